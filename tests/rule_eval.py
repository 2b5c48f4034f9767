"""Test helper: does one compiled row check reject a given row of raw strings?"""

from __future__ import annotations

import duckdb

from expectations.rules import RowCheck


def rejects(con: duckdb.DuckDBPyConnection, check: RowCheck, row: dict[str, str | None]) -> bool:
    cols = ", ".join(f"CAST(? AS VARCHAR) AS {k}" for k in row)
    sql = f"SELECT count(*) FROM ({check.unexpected_rows_query(f'(SELECT {cols}, 1 AS _row)')})"
    return bool(con.execute(sql, list(row.values())).fetchone()[0])
