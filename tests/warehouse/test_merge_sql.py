"""The publish merge ranks only the keys a run touches and carries the other rows over; it
must give what the merge means, stated here in plain Python (not with the SQL under test):
per key the newest record (no time is oldest), incoming before current on ties, a deletion
before an upsert of the same time, deleted keys dropped, stale copies ignored."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.publish import _merge_sql

COLUMNS = '"k", "v", "updated_at", "_run_id"'
ORDER = '"updated_at" DESC NULLS LAST, '
BASE = datetime(2026, 1, 1)

times = st.one_of(st.none(), st.integers(0, 4).map(lambda d: BASE + timedelta(days=d)))
current_rows = st.lists(st.tuples(st.sampled_from("abcdef"), times), max_size=8,
                        unique_by=lambda r: r[0])  # the table holds one row per key
incoming_rows = st.lists(st.tuples(st.sampled_from("abcdefg"), times, st.booleans()),
                         max_size=8)


def _tables(current, incoming) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute('CREATE TABLE cur (k VARCHAR, v VARCHAR, updated_at TIMESTAMP, _run_id VARCHAR)')
    con.execute('CREATE TABLE inc (k VARCHAR, v VARCHAR, updated_at TIMESTAMP, _run_id VARCHAR,'
                ' _deleted BOOLEAN)')
    for n, (key, when) in enumerate(current):
        con.execute("INSERT INTO cur VALUES (?, ?, ?, 'run-1')", [key, f"old-{n}", when])
    for n, (key, when, deleted) in enumerate(incoming):
        con.execute("INSERT INTO inc VALUES (?, ?, ?, 'run-2', ?)",
                    [key, f"new-{n}", when, deleted])
    return con


def expected_merge(current, incoming) -> dict[str, list[tuple]]:
    """Per surviving key, the rows any of which may win (equal rank: two incoming copies of
    a key with the same time and kind are equally new). Plain Python, written from the
    merge's contract, not from its SQL."""
    candidates: dict[str, list[tuple[tuple, tuple, bool]]] = {}
    for n, (key, when) in enumerate(current):
        row = (key, f"old-{n}", when, "run-1")
        candidates.setdefault(key, []).append(((when is not None, when or BASE, 0, 0), row, False))
    for n, (key, when, deleted) in enumerate(incoming):
        row = (key, f"new-{n}", when, "run-2")
        rank = (when is not None, when or BASE, 1, int(deleted))
        candidates.setdefault(key, []).append((rank, row, deleted))
    out: dict[str, list[tuple]] = {}
    for key, rows in candidates.items():
        best = max(rank for rank, _, _ in rows)
        winners = [(row, deleted) for rank, row, deleted in rows if rank == best]
        if not winners[0][1]:  # equal rank: all deletions or all upserts
            out[key] = [row for row, _ in winners]
    return out


@settings(max_examples=200, deadline=None)
@given(current_rows, incoming_rows)
def test_merge_keeps_the_newest_record_per_key(current, incoming) -> None:
    con = _tables(current, incoming)
    incoming_sql = f"SELECT {COLUMNS}, _deleted, 1 AS _incoming FROM inc"
    merged = con.execute(
        f"SELECT * FROM ({_merge_sql(COLUMNS, ['k'], ORDER, incoming_sql, 'cur')}) ORDER BY k"
    ).fetchall()
    expected = expected_merge(current, incoming)
    assert [row[0] for row in merged] == sorted(expected)  # one row per surviving key
    for row in merged:
        assert row in expected[row[0]], (row, expected[row[0]])
    # The same merge with nothing current (a first load) is the incoming rows' own merge.
    first = con.execute(
        f"SELECT * FROM ({_merge_sql(COLUMNS, ['k'], ORDER, incoming_sql, None)}) ORDER BY k"
    ).fetchall()
    alone = expected_merge([], incoming)
    assert [row[0] for row in first] == sorted(alone)
    assert all(row in alone[row[0]] for row in first)


def test_untouched_rows_kept_stale_copy_ignored_deletion_applied() -> None:
    current = [("a", BASE + timedelta(days=2)), ("b", BASE), ("c", BASE)]
    incoming = [("a", BASE, False),                        # older than the table's: ignored
                ("b", BASE + timedelta(days=1), False),    # newer: replaces
                ("c", BASE + timedelta(days=1), True),     # deleted
                ("d", None, False)]                        # new key, no time
    con = _tables(current, incoming)
    incoming_sql = f"SELECT {COLUMNS}, _deleted, 1 AS _incoming FROM inc"
    rows = con.execute(
        f"SELECT k, v FROM ({_merge_sql(COLUMNS, ['k'], ORDER, incoming_sql, 'cur')}) ORDER BY k"
    ).fetchall()
    assert rows == [("a", "old-0"), ("b", "new-1"), ("d", "new-3")]
