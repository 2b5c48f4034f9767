"""The SQL dialects the agency API reads with: DuckDB (Parquet snapshots: `as_of`, bulk, the
fallback while a serving copy is built), SQLite (the serving copy, api/serving.py) and
PostgreSQL (the optional indexed copy, api/pg_copy.py, LGSP_API_STORE_URI).

Only what differs is here: masks, the string functions of `$filter`, the stable hash that
orders rows when the key is hidden, how a typed value is passed (dates and timestamps as
ISO 8601 text to the SQLite copy, `iso_text`) and the placeholder style. The decisions (which column,
which mask, which rows) stay in api/grants.resolve; this module only spells them.
SQL text never carries user text: every value is a `?` parameter, turned into `%s` for
psycopg (the SQL text has no other `?` or `%`: identifiers come from the specs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from warehouse.duck import quote_ident

DUCKDB, SQLITE, POSTGRES = "duckdb", "sqlite", "postgres"
DIALECTS = (DUCKDB, SQLITE, POSTGRES)
SQLITE_IN_LIST_MAX = 8
"""Longer IN lists are looked up in a temp table on SQLite: with a list of N parameters,
SQLite builds a throw-away index of the N values at every execution (82 communes: 28 us of
a 10 us key lookup); a temp table keyed by the value is built once per connection."""


def iso_text(value: Any) -> Any:
    """A value as the SQLite serving copy holds it: dates and timestamps as ISO 8601 text
    (`2026-11-01`, `2026-10-31T17:00:00`, `...T17:00:00.250000`: the curated timestamps are
    naive UTC), anything else unchanged. Text of one shape orders as the values do, so a
    `$filter` literal spelled by this same function compares right on the copy."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Dialect:
    name: str

    def params(self, sql: str) -> str:
        """The SQL text in this engine's placeholder style."""
        return sql.replace("?", "%s") if self.name == POSTGRES else sql

    def value(self, value: Any) -> Any:
        """A typed `$filter` value (api/odata.py: int, float, bool, str, date, naive UTC
        datetime) as a parameter of this engine: as is for DuckDB and PostgreSQL, whose
        columns are typed; dates and timestamps as the copy's ISO text for SQLite."""
        return iso_text(value) if self.name == SQLITE else value

    def text(self, column_sql: str) -> str:
        return f"CAST({column_sql} AS {'TEXT' if self.name == SQLITE else 'VARCHAR'})"

    def mask(self, column: str, mask: str | None) -> str:
        """The expression showing `column` under `mask`, aliased to the column's name."""
        q = quote_ident(column)
        if mask is None:
            return q
        if mask == "last4":
            last4 = (f"substr({self.text(q)}, -4)" if self.name == SQLITE
                     else f"right({self.text(q)}, 4)")
            return f"CASE WHEN {q} IS NULL THEN NULL ELSE '********' || {last4} END AS {q}"
        if mask == "year":
            if self.name == DUCKDB:
                return f"CAST(year({q}) AS VARCHAR) AS {q}"
            if self.name == SQLITE:  # dates and timestamps are ISO 8601 text in the copy
                return f"CAST(CAST(substr({q}, 1, 4) AS INTEGER) AS TEXT) AS {q}"
            return f"CAST(CAST(EXTRACT(YEAR FROM {q}) AS INTEGER) AS VARCHAR) AS {q}"
        raise ValueError(f"unknown mask {mask!r}")

    def string_test(self, func: str, column_sql: str) -> tuple[str, int]:
        """`$filter` contains/startswith/endswith on a column against one value: (SQL with
        `?` placeholders, how many times the value is passed)."""
        c = self.text(column_sql)
        if self.name == DUCKDB:
            return {"contains": f"contains({c}, ?)", "startswith": f"starts_with({c}, ?)",
                    "endswith": f"ends_with({c}, ?)"}[func], 1
        if func == "contains":
            return (f"instr({c}, ?) > 0" if self.name == SQLITE else f"strpos({c}, ?) > 0"), 1
        if func == "startswith":
            return f"substr({c}, 1, length(?)) = ?", 2
        if self.name == SQLITE:
            return f"(length(?) = 0 OR substr({c}, -length(?)) = ?)", 3
        return f"right({c}, length(?)) = ?", 2

    def scope(self, terms: Sequence[tuple[str, Sequence[str]]]
              ) -> tuple[str, list[Any], dict[str, tuple[str, ...]]]:
        """A row scope (api/grants.Access.scope: ANDed terms "column holds one of these
        values") as (SQL predicate with `?` placeholders, its parameters, the temp tables it
        reads: name -> values, SQLite only, to be created on the connection first)."""
        parts: list[str] = []
        params: list[Any] = []
        sets: dict[str, tuple[str, ...]] = {}
        for column, values in terms:
            q = quote_ident(column)
            if not values:
                parts.append("FALSE")
            elif len(values) == 1:
                parts.append(f"{q} = ?")
                params.append(values[0])
            elif self.name == SQLITE and len(values) > SQLITE_IN_LIST_MAX:
                name = "lgsp_in_" + hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:24]
                sets[name] = tuple(values)
                parts.append(f"{q} IN (SELECT v FROM temp.{quote_ident(name)})")
            else:
                parts.append(f"{q} IN ({', '.join('?' for _ in values)})")
                params += values
        return (" AND ".join(f"({p})" for p in parts) if parts else "TRUE"), params, sets

    def hash(self, columns: list[str]) -> str:
        """A stable but meaningless order over the key (a hidden key must not leak its order)."""
        cols = ", ".join(map(quote_ident, columns))
        if self.name == DUCKDB:
            return f"hash({cols})"
        if self.name == SQLITE:
            return f"lgsp_hash({cols})"  # registered on each serving-copy connection
        return f"md5(concat_ws('|', {cols}))"


def get(name: str) -> Dialect:
    if name not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {name!r} (known: {', '.join(DIALECTS)})")
    return _BY_NAME[name]


_BY_NAME = {n: Dialect(n) for n in DIALECTS}
