"""The one place that decides what may leave the province as open data.

Two guards, both applied to every export, indicator and catalogue sample:

1. **By the classification in the spec**: only a dataset with `open_data: true`, and of it
   only the columns classified `public`. `personal` and `sensitive-personal` columns never
   leave; `internal` columns do not either (the spec has no per-column opening; a dataset
   owner who wants one classifies it `public`). `open_columns()` is the rule.
2. **By the values**: a spec can be wrong (an ID column marked public). Every export's rows
   are scanned, in every column, for identifier-shaped values - a 12-digit citizen ID (CCCD),
   a 10-digit social-insurance number (BHXH), a health-insurance card number (BHYT: two
   letters, a benefit digit 1-5, two digits of province, ten digits) and Vietnamese phone
   numbers (mobile and landline, with or without +84, spaces or dots). Any hit refuses the
   export with `ExportRefused` naming the column, the kind and the number of rows; the values
   themselves are never put in the message.

Known non-personal identifiers of the same shape are exempt only where the spec proves them:
a column carrying an `enterprise_code` quality check holds enterprise tax codes (10 digits,
the tenth a check digit); a value there that is a valid tax code (stdnum.vn.mst's rule, in
SQL) is not counted as a BHXH number or a phone number. It is still scanned for the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from catalog.spec import Column, DatasetSpec
from expectations.rules_business import mst_valid_sql
from warehouse.duck import quote_ident as q

OPEN_CLASSIFICATIONS = frozenset({"public"})

# RE2 (DuckDB) and Python `re` read these the same way: no look-around, ASCII classes.
_SEP = "[ .-]?"
IDENTIFIER_PATTERNS: dict[str, str] = {
    "CCCD (12-digit citizen ID)": r"(^|[^0-9])[0-9]{12}([^0-9]|$)",
    "BHXH (10-digit social-insurance number)": r"(^|[^0-9])[0-9]{10}([^0-9]|$)",
    "BHYT (health-insurance card number)": r"(^|[^A-Za-z0-9])[A-Za-z]{2}[1-5][0-9]{12}([^0-9]|$)",
    "phone number": (
        r"(^|[^0-9+])(\+84|84|0)" + _SEP + r"(([35789](" + _SEP + r"[0-9]){8})|(2(" + _SEP
        + r"[0-9]){9}))([^0-9]|$)"
    ),
}
TAX_CODE_SHAPED = ("BHXH (10-digit social-insurance number)", "phone number")
"""The kinds a valid enterprise tax code can look like (see the module docstring)."""


class ClassificationError(ValueError):
    """The spec does not allow this dataset (or column) to be published as open data."""


@dataclass(frozen=True)
class Finding:
    column: str
    kind: str
    rows: int

    def __str__(self) -> str:
        return f"column {self.column!r}: {self.rows:,} row(s) hold a {self.kind}-shaped value"


class ExportRefused(RuntimeError):
    """Identifier-shaped values found in what would have been published."""

    def __init__(self, dataset: str, findings: list[Finding]) -> None:
        self.dataset = dataset
        self.findings = findings
        super().__init__(
            f"{dataset}: open-data export refused, personal identifiers found: "
            + "; ".join(str(f) for f in findings)
            + ". Fix the column's classification in the spec (personal) or the data at the source."
        )


def may_leave(column: Column) -> bool:
    return column.classification in OPEN_CLASSIFICATIONS


def open_columns(spec: DatasetSpec) -> list[Column]:
    """The columns of `spec` that may appear in open data; refuses a dataset that is not open."""
    if not spec.open_data:
        raise ClassificationError(f"{spec.id}: not open data (the spec says open_data: false)")
    columns = [c for c in spec.columns if may_leave(c)]
    if not columns:
        raise ClassificationError(f"{spec.id}: open_data is true but no column is classified public")
    return columns


def check_indicator_dimension(source: DatasetSpec, column: str, role: str, coarsened: bool,
                              binary: bool = False) -> None:
    """May `column` of `source` group an open indicator? The row dimension's values are
    published as they are, so it must be public. A column dimension may also be internal or
    personal when `coarsened` (a closed list of categories, or age groups): only counts per
    category leave. A sensitive-personal column groups nothing, except reduced to a yes/no
    (`binary`: a health card valid on the reference date or not), the one way coverage can
    be counted; it never filters and never names a row."""
    try:
        col = source.column(column)
    except KeyError:
        raise ClassificationError(f"indicator over {source.id}: no column {column!r}") from None
    if col.classification == "sensitive-personal" and not (role == "column" and binary):
        raise ClassificationError(
            f"indicator over {source.id}: column {column!r} is sensitive-personal and may not "
            "group open data")
    if role == "row" and not may_leave(col):
        raise ClassificationError(
            f"indicator over {source.id}: row dimension {column!r} is {col.classification}; "
            "its values would be published as they are")
    if role == "column" and not may_leave(col) and not coarsened:
        raise ClassificationError(
            f"indicator over {source.id}: column {column!r} is {col.classification}; group it "
            "by a closed list of categories or age groups")


def closed_columns(spec: DatasetSpec) -> list[str]:
    return [c.name for c in spec.columns if not may_leave(c)]


def tax_code_columns(spec: DatasetSpec) -> set[str]:
    return {col for check in spec.quality.checks if check.rule == "enterprise_code"
            for col in check.target_columns}


def identifier_kinds(value: str) -> set[str]:
    """The identifier kinds `value` contains (Python twin of the SQL scan, for one value)."""
    return {kind for kind, pattern in IDENTIFIER_PATTERNS.items() if re.search(pattern, value)}


def _hit_sql(expr: str, kind: str, tax_code: bool) -> str:
    pattern = IDENTIFIER_PATTERNS[kind].replace("'", "''")
    hit = f"regexp_matches({expr}, '{pattern}')"
    if tax_code and kind in TAX_CODE_SHAPED:
        hit = f"({hit} AND NOT coalesce({mst_valid_sql(expr)}, false))"
    return hit


def scan_identifiers(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str],
                     tax_code_columns: set[str] | frozenset[str] = frozenset()) -> list[Finding]:
    """Count, per column and kind, the rows of `relation` (a table, view or subquery in
    parentheses) holding an identifier-shaped value. One pass over the rows."""
    if not columns:
        return []
    aggregates = []
    keys = []
    for col in columns:
        expr = f"CAST({q(col)} AS VARCHAR)"
        for kind in IDENTIFIER_PATTERNS:
            aggregates.append(
                f"count(*) FILTER (WHERE {_hit_sql(expr, kind, col in tax_code_columns)})")
            keys.append((col, kind))
    row = con.execute(f"SELECT {', '.join(aggregates)} FROM {relation}").fetchone()
    assert row is not None
    return [Finding(col, kind, int(n)) for (col, kind), n in zip(keys, row, strict=True) if n]


def check_open_rows(spec: DatasetSpec, con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Raise ExportRefused if `relation` (the rows about to be published) holds identifiers."""
    names = [c.name for c in open_columns(spec)]
    findings = scan_identifiers(con, relation, names, tax_code_columns(spec))
    if findings:
        raise ExportRefused(spec.id, findings)
