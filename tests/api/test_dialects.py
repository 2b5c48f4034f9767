"""The SQL each store runs says the same thing (api/dialects.py): for any value, the masks
(`last4`, `year`), the `$filter` string functions (contains, startswith, endswith), the
grants' row scopes (short and long IN lists: SQLite reads long ones from a temp table) and
`$filter` comparisons of any literal with a column of any spec type (api/odata.typed_value:
refused naming the column, or compared as Python compares the values) give the same answer
in DuckDB (Parquet snapshots), SQLite (the serving copy) and PostgreSQL (the optional
copy), each over a column of the type its store holds. Property-based: hypothesis draws
the values, the literals and the search strings."""

from __future__ import annotations

import math
import operator
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from api import dialects, pg_copy, serving
from api.grants import mask_sql
from api.odata import ODataError, parse_filter

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
        where, params, _ = parse_filter(f"{func}(c, '{literal}')", {"c": "string"}, engine)
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


# ---- typed $filter literals --------------------------------------------------------------

ARROW = {"string": "string", "int": "int64", "float": "float64", "bool": "bool_", "date": "date32",
         "timestamp": "timestamp"}
"""The curated column types (warehouse/curate.curated_arrow_schema: timestamps naive UTC
microseconds), from which each store's column type derives."""
DUCK_TYPES = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
              "date": "DATE", "timestamp": "TIMESTAMP"}
"""What DuckDB reads those Parquet columns as."""
COLUMN_TYPES = tuple(ARROW)
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
    "ge": operator.ge}


def _arrow(column_type: str) -> Any:
    import pyarrow as pa

    return pa.timestamp("us") if column_type == "timestamp" else getattr(pa, ARROW[column_type])()


@pytest.fixture(scope="module")
def typed_tables(engines: dict[str, Any]) -> dict[str, Any]:
    """A one-column table `t_<type>` per spec column type in every engine, typed as that
    store types the curated column (SQLite: api/serving._sql_type, PostgreSQL:
    api/pg_copy._pg_type)."""
    for column_type in COLUMN_TYPES:
        sql = {dialects.DUCKDB: DUCK_TYPES[column_type],
               dialects.SQLITE: serving._sql_type(_arrow(column_type)),
               dialects.POSTGRES: pg_copy._pg_type(_arrow(column_type))}
        for engine, con in engines.items():
            con.execute(f"DROP TABLE IF EXISTS t_{column_type}")
            temp = "TEMP " if engine == dialects.POSTGRES else ""
            con.execute(f"CREATE {temp}TABLE t_{column_type} (c {sql[engine]})")
    return engines


@st.composite
def _datetimes(draw: st.DrawFn, quoted: bool) -> tuple[str, str, Any]:
    """A date-time literal: (text, kind, its naive UTC value or None when out of range or
    finer than a microsecond)."""
    value = draw(st.datetimes(min_value=datetime(1000, 1, 1)))
    spec = draw(st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds", "nanos"]))
    if spec == "minutes":
        value = value.replace(second=0, microsecond=0)
    elif spec == "seconds":
        value = value.replace(microsecond=0)
    elif spec == "milliseconds":
        value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    text = value.isoformat(timespec="microseconds" if spec == "nanos" else spec)
    finer = draw(st.sampled_from(["0", "7", "00", "05"])) if spec == "nanos" else ""
    text += finer
    offset = draw(st.one_of(st.none(), st.just("Z"), st.integers(-(23 * 60 + 59), 23 * 60 + 59)))
    utc: Any = value
    if isinstance(offset, int):
        text += f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
        try:
            utc = value - timedelta(minutes=offset)
        except OverflowError:
            utc = None
    elif offset:
        text += offset
    if finer.rstrip("0"):  # finer than the microseconds the column keeps
        utc = None
    kind = "timestamp"
    if quoted:
        text, kind = f"'{text}'", "quoted_timestamp"
    return text, kind, utc


@st.composite
def _dates(draw: st.DrawFn, quoted: bool) -> tuple[str, str, Any]:
    """A date literal the grammar lexes as one (day 00 or 2026-02-30 too): (text, kind,
    its value or None when it is no date)."""
    year, month, day = (draw(st.integers(1000, 9999)), draw(st.integers(0, 12)),
                        draw(st.integers(0, 31)))
    text = f"{year:04d}-{month:02d}-{day:02d}"
    try:
        value: Any = date(year, month, day)
    except ValueError:
        value = None
    return (f"'{text}'", "quoted_date", value) if quoted else (text, "date", value)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


STRINGS = TEXT.filter(lambda t: not re.match("[0-9]{4}-", t)).map(lambda t: (_quoted(t), "string", t))
"""Quoted strings (none a quoted date by chance: those are drawn as such)."""
LITERALS = st.one_of(
    STRINGS,
    st.integers(-(2**64), 2**64).map(lambda i: (str(i), "int", i)),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: (repr(f), "float", f)),
    st.sampled_from(["1e400", "-1e400", "1.5e308"]).map(lambda t: (t, "float", float(t))),
    st.booleans().map(lambda b: (str(b).lower(), "bool", b)),
    _dates(quoted=False), _dates(quoted=True), _datetimes(quoted=False), _datetimes(quoted=True),
    st.just(("10:00:00", "time", None)),
    st.uuids().map(lambda u: (str(u), "guid", None)),
)


def _accepted(column_type: str, text: str, kind: str, value: Any) -> tuple[bool, Any]:
    """The documented rule (api/odata.py): whether a literal fits a column type, and the
    value it compares as."""
    if kind.startswith("quoted_") and column_type == "string":
        return True, text[1:-1]
    if column_type == "string":
        return kind == "string", value
    if column_type == "int":
        return kind == "int" and -(2**63) <= value < 2**63, value
    if column_type == "float":
        if kind not in ("int", "float"):
            return False, None
        try:
            number = float(value)
        except OverflowError:
            return False, None
        return math.isfinite(number), number
    if column_type == "bool":
        return kind == "bool", value
    if column_type == "date":
        return kind in ("date", "quoted_date") and value is not None, value
    if kind in ("date", "quoted_date") and value is not None:
        return True, datetime(value.year, value.month, value.day)
    return kind in ("timestamp", "quoted_timestamp") and value is not None, value


COLUMN_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": TEXT, "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False), "bool": st.booleans(),
    "date": st.dates(min_value=date(1000, 1, 1)),
    "timestamp": st.datetimes(min_value=datetime(1000, 1, 1))}


FITTING: dict[str, st.SearchStrategy[tuple[str, str, Any]]] = {
    "string": st.one_of(STRINGS, _dates(quoted=True)),
    "int": st.integers(-(2**63), 2**63 - 1).map(lambda i: (str(i), "int", i)),
    "float": st.one_of(st.integers(-(2**70), 2**70).map(lambda i: (str(i), "int", i)),
                       st.floats(allow_nan=False, allow_infinity=False).map(
                           lambda f: (repr(f), "float", f))),
    "bool": st.booleans().map(lambda b: (str(b).lower(), "bool", b)),
    "date": st.one_of(_dates(quoted=False), _dates(quoted=True)),
    "timestamp": st.one_of(_dates(quoted=False), _datetimes(quoted=False), _datetimes(quoted=True)),
}
"""Literals of a kind that fits the column type (often accepted, not only by chance)."""


@st.composite
def _comparisons(draw: st.DrawFn) -> tuple[str, Any, str, list[tuple[str, str, Any]], bool]:
    column_type = draw(st.sampled_from(COLUMN_TYPES))
    op = draw(st.sampled_from([*OPS, "in"]))
    literal = st.integers(0, 3).flatmap(lambda i: LITERALS if i == 0 else FITTING[column_type])
    literals = draw(st.lists(literal, min_size=2 if op == "in" else 1, max_size=3 if op == "in" else 1))
    value = draw(st.one_of(st.none(), COLUMN_VALUES[column_type]))
    ok, same = _accepted(column_type, *literals[0])
    if ok and draw(st.booleans()):  # the stored value equal to the literal: eq, le, ge hold
        value = same
    return column_type, value, op, literals, draw(st.booleans())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_comparisons())
def test_filter_literals_are_typed_alike_in_every_engine(typed_tables: dict[str, Any], case: Any) -> None:
    """Any literal against a column of any spec type: refused in every engine's plan with
    the same problem naming the column and its type, or accepted exactly when the rule says
    so and matching exactly the rows Python's comparison of the values keeps."""
    column_type, value, op, literals, flipped = case
    if op == "in":
        text = f"c in ({', '.join(t for t, _, _ in literals)})"
    else:
        text = f"{literals[0][0]} {op} c" if flipped else f"c {op} {literals[0][0]}"
    checked = [_accepted(column_type, t, kind, v) for t, kind, v in literals]
    fits = all(ok for ok, _ in checked)
    event(f"{column_type}: {'accepted' if fits else 'refused'}")
    for engine, con in typed_tables.items():
        try:
            where, params, _ = parse_filter(text, {"c": column_type}, engine)
        except ODataError as err:
            assert not fits, (engine, text, str(err))
            assert err.members == {"option": "$filter", "column": "c", "expected": column_type}
            assert f"column 'c' of type {column_type}" in str(err)
            continue
        assert fits, (engine, text, params)
        if op == "in":
            want = value is not None and value in [v for _, v in checked]
        elif value is None:
            want = False
        else:
            literal = checked[0][1]
            want = OPS[op](literal, value) if flipped else OPS[op](value, literal)
        d = dialects.get(engine)
        con.execute(f"DELETE FROM t_{column_type}")
        con.execute(d.params(f"INSERT INTO t_{column_type} VALUES (?)"),
                    [dialects.iso_text(value) if engine == dialects.SQLITE else value])
        rows = con.execute(d.params(f"SELECT count(*) FROM t_{column_type} WHERE {where}"),
                           params).fetchall()
        assert rows[0][0] == int(want), (engine, text, value, params)
