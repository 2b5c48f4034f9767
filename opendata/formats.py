"""Export formats, one writer each, registered by name (built-ins registered like any other).

Every writer reads the same input: the dataset's open rows already written as the export's
Parquet file (sorted by primary key, public columns only, scanned by the classification), so
each format is one streaming pass. DuckDB's COPY writes CSV, NDJSON and JSON; XLSX is
streamed by xlsxwriter in constant-memory mode from Arrow record batches. Text cells of CSV
and XLSX go through `opendata.cell_safety` (formula injection).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from opendata.cell_safety import neutralize_formula, neutralize_formula_sql
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

Writer = Callable[[duckdb.DuckDBPyConnection, Path, Path, list[tuple[str, str]]], None]
"""(connection, source parquet, target file, [(column, duckdb type)])."""

BOM = b"\xef\xbb\xbf"
XLSX_MAX_ROWS = 1_048_576  # Excel's sheet limit, header included
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass(frozen=True)
class ExportFormat:
    name: str
    """Format id used in file names, URLs and the catalogue (csv, csv-bom, parquet, ...)."""
    extension: str
    media_type: str
    frictionless_format: str
    encoding: str | None
    title: str
    write: Writer


FORMATS: dict[str, ExportFormat] = {}


def register(fmt: ExportFormat) -> ExportFormat:
    FORMATS[fmt.name] = fmt
    return fmt


def _csv_select(source: Path, columns: list[tuple[str, str]]) -> str:
    parts = [f"{neutralize_formula_sql(q(name))} AS {q(name)}" if typ == "VARCHAR" else q(name)
             for name, typ in columns]
    return f"SELECT {', '.join(parts)} FROM read_parquet({lit(str(source))})"


def write_csv(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
              columns: list[tuple[str, str]]) -> None:
    con.execute(f"COPY ({_csv_select(source, columns)}) TO {lit(str(target))} "
                f"(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', DATEFORMAT '%Y-%m-%d', "
                f"TIMESTAMPFORMAT '{TIMESTAMP_FORMAT}')")


def write_csv_bom(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
                  columns: list[tuple[str, str]]) -> None:
    """The same CSV preceded by a UTF-8 byte order mark, which Excel needs to read UTF-8."""
    plain = target.with_suffix(".plain.tmp")
    write_csv(con, source, plain, columns)
    with target.open("wb") as out, plain.open("rb") as src:
        out.write(BOM)
        shutil.copyfileobj(src, out, 1 << 20)
    plain.unlink()


def write_parquet(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
                  columns: list[tuple[str, str]]) -> None:
    shutil.copyfile(source, target)  # the source already is the Parquet export


def _json_select(source: Path, columns: list[tuple[str, str]]) -> str:
    parts = [f"strftime({q(name)}, '{TIMESTAMP_FORMAT}') AS {q(name)}" if typ == "TIMESTAMP"
             else q(name) for name, typ in columns]
    return f"SELECT {', '.join(parts)} FROM read_parquet({lit(str(source))})"


def write_ndjson(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
                 columns: list[tuple[str, str]]) -> None:
    con.execute(f"COPY ({_json_select(source, columns)}) TO {lit(str(target))} (FORMAT json)")


def write_json_array(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
                     columns: list[tuple[str, str]]) -> None:
    con.execute(f"COPY ({_json_select(source, columns)}) TO {lit(str(target))} "
                f"(FORMAT json, ARRAY true)")


def write_xlsx(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
               columns: list[tuple[str, str]]) -> None:
    """Streamed: xlsxwriter's constant_memory mode flushes each row; Arrow batches feed it.
    Rows beyond Excel's limit continue on a new sheet with the same header."""
    import xlsxwriter

    names = [name for name, _ in columns]
    book = xlsxwriter.Workbook(str(target), {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "tmpdir": str(target.parent),
    })
    date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    ts_fmt = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    header_fmt = book.add_format({"bold": True})
    sheet = None
    row = XLSX_MAX_ROWS
    sheets = 0
    for batch in pq.ParquetFile(source).iter_batches(batch_size=8192, columns=names):
        cols = [c.to_pylist() for c in batch.columns]
        for values in zip(*cols, strict=True):
            if row >= XLSX_MAX_ROWS:
                sheets += 1
                sheet = book.add_worksheet("data" if sheets == 1 else f"data{sheets}")
                sheet.write_row(0, 0, names, header_fmt)
                row = 1
            assert sheet is not None
            for j, v in enumerate(values):
                if v is None:
                    continue
                if isinstance(v, str):
                    sheet.write_string(row, j, neutralize_formula(v))
                elif isinstance(v, bool):
                    sheet.write_boolean(row, j, v)
                elif isinstance(v, datetime):
                    sheet.write_datetime(row, j, v, ts_fmt)
                elif isinstance(v, date):
                    sheet.write_datetime(row, j, datetime(v.year, v.month, v.day), date_fmt)
                else:
                    sheet.write_number(row, j, v)
            row += 1
    if sheet is None:
        book.add_worksheet("data").write_row(0, 0, names, header_fmt)
    book.close()


register(ExportFormat("csv", "csv", "text/csv", "csv", "utf-8", "CSV (UTF-8)", write_csv))
register(ExportFormat("csv-bom", "bom.csv", "text/csv", "csv", "utf-8-sig",
                      "CSV (UTF-8 with BOM, for Excel)", write_csv_bom))
register(ExportFormat("parquet", "parquet", "application/vnd.apache.parquet", "parquet", None,
                      "Parquet", write_parquet))
register(ExportFormat("ndjson", "ndjson", "application/x-ndjson", "ndjson", "utf-8",
                      "JSON lines (NDJSON)", write_ndjson))
register(ExportFormat("json", "json", "application/json", "json", "utf-8", "JSON (array)",
                      write_json_array))
register(ExportFormat(
    "xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx",
    None, "Excel (XLSX)", write_xlsx))
