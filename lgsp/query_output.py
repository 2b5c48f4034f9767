"""How `lgsp query` prints a result: a Rich table, CSV or JSON.

Data values are text, never markup: table cells are Rich `Text` (no `[red]` styles, no
`:x:` emoji), and control characters (terminal escapes, bidi overrides) are shown escaped.
CSV and JSON carry the values exactly.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from warehouse.sandbox import QueryResult, printable


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def cell(value: Any) -> Text:
    return Text("" if value is None else printable(str(value)))


def print_table(result: QueryResult, console: Console) -> None:
    table = Table()
    for name in result.columns:
        table.add_column(cell(name))
    for row in result.rows:
        table.add_row(*(cell(v) for v in row))
    console.print(table)


def write_csv(result: QueryResult, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow("" if v is None else v for v in row)


def write_json(result: QueryResult, out: IO[str]) -> None:
    """An array of objects, one per row (a repeated column name gets a `_2`, `_3` suffix)."""
    keys: list[str] = []
    for name in result.columns:
        key, n = name, 1
        while key in keys:
            n += 1
            key = f"{name}_{n}"
        keys.append(key)
    records = [dict(zip(keys, (_json_value(v) for v in row), strict=True)) for row in result.rows]
    json.dump(records, out, ensure_ascii=False, indent=1, allow_nan=False)
    out.write("\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are not JSON numbers
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Decimal):
        return str(value)  # exact, as the table holds it
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)
