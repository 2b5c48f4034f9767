"""The publish merge ranks only the keys a run touches and carries the other rows over; it
must give exactly what one window over every row (current and incoming) gives: per key the
newest record, incoming before current on ties, deletions applied, stale copies ignored."""

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


@settings(max_examples=200, deadline=None)
@given(current_rows, incoming_rows)
def test_merge_equals_one_window_over_every_row(current, incoming) -> None:
    con = _tables(current, incoming)
    incoming_sql = f"SELECT {COLUMNS}, _deleted, 1 AS _incoming FROM inc"
    merged = con.execute(
        f"SELECT * FROM ({_merge_sql(COLUMNS, ['k'], ORDER, incoming_sql, 'cur')}) ORDER BY k"
    ).fetchall()
    everything = (f"{incoming_sql} UNION ALL "
                  f"SELECT {COLUMNS}, false AS _deleted, 0 AS _incoming FROM cur")
    reference = con.execute(
        f"SELECT * FROM ({_merge_sql(COLUMNS, ['k'], ORDER, everything, None)}) ORDER BY k"
    ).fetchall()
    assert merged == reference


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
