"""Spreadsheet formula injection: the one rule every open-data CSV and XLSX writer applies.

A value a registry delivered as `=cmd|' /C calc'!A0`, `+1+1`, `@SUM(A1)` or `-2+3` is text.
Curated tables keep it exactly as delivered (the quality report flags it, rule
`no_formula`); but a spreadsheet opening an export would run it as a formula. Following
OWASP's CSV-injection guidance, a writer passes every text cell through `escape_formula`:
a value starting with = + - @ tab or carriage return gets a leading apostrophe, which
spreadsheets read as "this cell is text" and do not display. Both writers (CSV and XLSX,
opendata/formats.py and opendata/xlsx_stream.py) use it, through `escape_formula_sql`, and the
quality rule uses `FORMULA_PREFIXES`, so what is flagged and what is escaped never differ.
Numbers exported from typed (non-text) columns are not text and are not escaped.
"""

from __future__ import annotations

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP)."""
ESCAPE = "'"


def looks_like_formula(value: str | None) -> bool:
    """True when a spreadsheet could read this text as a formula."""
    return bool(value) and value[0] in FORMULA_PREFIXES  # type: ignore[index]


def escape_formula(value: str | None) -> str | None:
    """The text cell a CSV or XLSX export writes: formula-looking text behind an apostrophe,
    anything else unchanged (None stays None)."""
    if value is not None and looks_like_formula(value):
        return ESCAPE + value
    return value


def escape_formula_sql(expr: str) -> str:
    """DuckDB SQL applying `escape_formula` to a VARCHAR expression (the CSV and XLSX export
    writers render cells with it; NULL stays NULL)."""
    quoted = "'" + ESCAPE.replace("'", "''") + "'"
    return f"CASE WHEN {formula_sql(expr)} THEN {quoted} || {expr} ELSE {expr} END"


def formula_sql(column_sql: str) -> str:
    """DuckDB predicate (NULL-safe) for the same test, over a quoted column expression."""
    chars = ", ".join("chr(" + str(ord(c)) + ")" for c in FORMULA_PREFIXES)
    return f"coalesce(left({column_sql}, 1) IN ({chars}), false)"
