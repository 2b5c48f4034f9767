"""The SQL each store runs says the same thing (api/dialects.py): for any value, the masks
(`last4`, `year`), the `$filter` string functions (contains, startswith, endswith) and the
grants' row scopes (short and long IN lists: SQLite reads long ones from a temp table) give
the same answer in DuckDB (Parquet snapshots), SQLite (the serving copy) and PostgreSQL
(the optional copy). Property-based: hypothesis draws the values and the search strings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from typing import Any

import duckdb
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import dialects, serving
from api.grants import mask_sql
from api.odata import parse_filter

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, Any]]:
    pg = psycopg.connect(PG, autocommit=True)
    yield {dialects.DUCKDB: duckdb.connect(), dialects.SQLITE: sqlite3.connect(":memory:"),
           dialects.POSTGRES: pg}
    pg.close()


def _value(engine: str, con: Any, select: str, column_type: str, value: Any, where: str = "TRUE",
           params: list[Any] | None = None) -> Any:
    """Evaluate `select` over a one-row table whose column "c" holds `value`."""
    d = dialects.get(engine)
    cast = "TEXT" if engine == dialects.SQLITE else column_type  # the copy keeps dates as ISO text
    sql = f"SELECT {select} FROM (SELECT CAST(? AS {cast}) AS c) t WHERE {where}"
    rows = con.execute(d.params(sql), [value, *(params or [])]).fetchall()
    return rows[0][0] if rows else "<no row>"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.none(), TEXT))
def test_last4_mask_agrees(engines: dict[str, Any], value: str | None) -> None:
    got = {e: _value(e, con, mask_sql("c", "last4", e), "VARCHAR", value) for e, con in engines.items()}
    assert len(set(got.values())) == 1, got
    assert got[dialects.DUCKDB] == (None if value is None else "********" + value[-4:])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.none(), st.dates(min_value=date(1000, 1, 1))))
def test_year_mask_agrees(engines: dict[str, Any], value: date | None) -> None:
    text = None if value is None else value.isoformat()
    got = {e: _value(e, con, mask_sql("c", "year", e), "DATE", text) for e, con in engines.items()}
    assert len(set(got.values())) == 1, got


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT, needle=TEXT, func=st.sampled_from(["contains", "startswith", "endswith"]))
def test_filter_string_functions_agree(engines: dict[str, Any], value: str, needle: str, func: str) -> None:
    literal = needle.replace("'", "''")
    got = {}
    for engine, con in engines.items():
        where, params, _ = parse_filter(f"{func}(c, '{literal}')", ("c",), engine)
        got[engine] = _value(engine, con, "1", "VARCHAR", value, where, params)
    assert len(set(got.values())) == 1, got
    want = {"contains": needle in value, "startswith": value.startswith(needle),
            "endswith": value.endswith(needle)}[func]
    assert (got[dialects.DUCKDB] == 1) == want


SCOPE_VALUES = st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                max_size=6), max_size=20, unique=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=SCOPE_VALUES, second=SCOPE_VALUES, value=TEXT, other=TEXT, pick=st.booleans())
def test_row_scopes_agree(engines: dict[str, Any], first: list[str], second: list[str], value: str,
                          other: str, pick: bool) -> None:
    """Rows (c, d) in scope "c in first and d in second" for any lists (empty: no row; one
    value; up to 20, past SQLite's IN-list limit): every engine keeps exactly the row the
    sets say, and SQLite reads the long lists from its temp tables."""
    if pick and first:
        value = first[len(value) % len(first)]  # often a member, not only by chance
    terms = [("c", first), ("d", second)]
    want = value in first and other in second
    for engine, con in engines.items():
        d = dialects.get(engine)
        where, params, sets = d.scope(terms)
        assert bool(sets) == (engine == dialects.SQLITE and any(
            len(v) > dialects.SQLITE_IN_LIST_MAX for _, v in terms))
        if sets:
            serving.create_sets(con, sets)
        rows = con.execute(d.params(f"SELECT 1 FROM (SELECT CAST(? AS TEXT) AS c, CAST(? AS TEXT) AS d) t "
                                    f"WHERE {where}"), [value, other, *params]).fetchall()
        assert bool(rows) == want, (engine, where)
