"""Spreadsheet formula injection (CSV injection): the one rule for cells of CSV and XLSX
exports, after OWASP: a text value starting with = + - @ tab or carriage return is prefixed
with a single quote, so a spreadsheet shows it as text instead of evaluating it.

Two faces of the same rule, kept side by side and tested against each other:
`neutralize_formula(value)` for Python writers (XLSX) and `neutralize_formula_sql(expr)` for
DuckDB COPY (CSV). Only text columns need it: a typed number or date cannot hold a formula.
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_SQL_FIRST = "('=', '+', '-', '@', chr(9), chr(13))"  # the same characters, for left(x, 1)


def neutralize_formula(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def neutralize_formula_sql(expr: str) -> str:
    """DuckDB SQL expression applying `neutralize_formula` to a VARCHAR expression."""
    return f"CASE WHEN left({expr}, 1) IN {_SQL_FIRST} THEN '''' || {expr} ELSE {expr} END"
