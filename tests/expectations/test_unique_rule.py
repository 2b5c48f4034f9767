"""The `unique` rule keeps exactly one copy per key, the most recent (by the spec's order
column, unparseable or missing times last, then the later row), and flags every other copy:
DuckDB's verdict on generated runs equals a plain-Python statement of that rule, whether
the rule reads a table, a parenthesised SELECT, or GX's {batch} substitution."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.spec import get_spec
from expectations.reference import ensure_reference
from expectations.rules import compile_checks, group_query

TIMES = ["2026-01-01T00:00:00Z", "2026-01-01T07:00:00+07:00", "2025-06-30T23:59:59Z",
         "2026-03-01T10:00:00Z", "not a time", None]


@pytest.fixture(scope="module")
def unique_check(tmp_path_factory):
    ref = ensure_reference(tmp_path_factory.mktemp("ref"))
    (check,) = [c for c in compile_checks(get_spec("population"), ref) if c.rule == "unique"]
    return check


def _expected_flagged(rows: list[tuple[str | None, str | None]]) -> set[int]:
    """Row numbers (1-based) that are not the kept copy of their key."""
    def when(text: str | None) -> datetime | None:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC) if text \
                else None
        except ValueError:
            return None

    best: dict[str, tuple[bool, datetime, int]] = {}
    for n, (key, text) in enumerate(rows, start=1):
        if key is None:
            continue
        ts = when(text)
        rank = (ts is not None, ts or datetime.min.replace(tzinfo=UTC), n)
        if key not in best or rank > best[key]:
            best[key] = rank
    kept = {rank[2] for rank in best.values()}
    return {n for n, (key, _) in enumerate(rows, start=1) if key is not None and n not in kept}


def _table(rows: list[tuple[str | None, str | None]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (personal_id VARCHAR, updated_at VARCHAR, _row BIGINT)")
    for n, (key, updated) in enumerate(rows, start=1):
        con.execute("INSERT INTO t VALUES (?, ?, ?)", [key, updated, n])
    return con


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C", None]), st.sampled_from(TIMES)),
                max_size=12))
def test_every_copy_but_the_most_recent_is_flagged(unique_check, rows) -> None:
    con = _table(rows)
    expected = _expected_flagged(rows)
    for source in ("t", "(SELECT * FROM t)"):
        found = {r[0] for r in con.execute(
            f"SELECT _row FROM ({unique_check.unexpected_rows_query(source)})").fetchall()}
        assert found == expected, source
    # As GX runs it: {batch} replaced by the asset query, once per occurrence.
    gx = group_query([unique_check], "{batch}").replace(
        "{batch}", "(SELECT * FROM t) AS subselect")
    assert con.execute(f"SELECT count(*) FROM ({gx})").fetchone()[0] == len(expected)


def test_the_later_time_wins_across_offsets_and_the_later_row_breaks_ties(unique_check):
    rows = [("A", "2026-01-01T06:00:00+07:00"),   # 2025-12-31T23:00Z: older
            ("A", "2026-01-01T00:00:00Z"),        # the most recent instant...
            ("A", "2026-01-01T07:00:00+07:00"),   # ...again, in a later row: kept
            ("B", None), ("B", "garbage"),        # no usable time: the later row is kept
            (None, None), (None, None)]           # no key: not this rule's business
    con = _table(rows)
    found = {r[0] for r in con.execute(
        f"SELECT _row FROM ({unique_check.unexpected_rows_query('t')})").fetchall()}
    assert found == {1, 2, 4}
