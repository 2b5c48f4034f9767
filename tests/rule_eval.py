"""Test helper: does one compiled row check reject a given row of raw strings?"""

from __future__ import annotations

import duckdb

from expectations.rules import RowCheck


def rejects(con: duckdb.DuckDBPyConnection, check: RowCheck, row: dict[str, str | None]) -> bool:
    cols = ", ".join(f"CAST(? AS VARCHAR) AS {k}" for k in row)
    # A CTE: a check that reads the rows again (unique) must not repeat the parameters.
    sql = (f"WITH one_row AS (SELECT {cols}, 1 AS _row) "
           f"SELECT count(*) FROM ({check.unexpected_rows_query('one_row')})")
    return bool(con.execute(sql, list(row.values())).fetchone()[0])
