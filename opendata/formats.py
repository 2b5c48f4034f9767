"""Export formats, one writer each, registered by name (built-ins registered like any other).

Every writer reads the same input: the dataset's open rows already written as the export's
Parquet file (the snapshot's row order, public columns only, scanned by the classification), so
each format is one streaming pass. DuckDB's COPY writes CSV, NDJSON and JSON, and renders
the rows of XLSX sheets (`opendata.xlsx_stream`). Text cells of CSV
and XLSX go through `warehouse.cell_safety` (formula injection).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from opendata.xlsx_stream import write_xlsx
from warehouse.cell_safety import escape_formula_sql
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

Writer = Callable[[duckdb.DuckDBPyConnection, Path, Path, list[tuple[str, str]]], None]
"""(connection, source parquet, target file, [(column, duckdb type)])."""

BOM = b"\xef\xbb\xbf"
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


def _csv_select(source: Path, columns: list[tuple[str, str]], bom: bool = False) -> str:
    """The CSV's SELECT; with `bom` the first header is preceded by U+FEFF, so DuckDB writes
    the byte order mark as the file's first bytes in the same single pass."""
    parts = []
    for i, (name, typ) in enumerate(columns):
        header = q(("\ufeff" if bom and i == 0 else "") + name)
        parts.append(f"{escape_formula_sql(q(name))} AS {header}" if typ == "VARCHAR"
                     else f"{q(name)} AS {header}")
    return f"SELECT {', '.join(parts)} FROM read_parquet({lit(str(source))})"


def write_csv(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
              columns: list[tuple[str, str]], bom: bool = False) -> None:
    con.execute(f"COPY ({_csv_select(source, columns, bom)}) TO {lit(str(target))} "
                f"(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', DATEFORMAT '%Y-%m-%d', "
                f"TIMESTAMPFORMAT '{TIMESTAMP_FORMAT}')")


def write_csv_bom(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
                  columns: list[tuple[str, str]]) -> None:
    """The same CSV preceded by a UTF-8 byte order mark, which Excel needs to read UTF-8
    (one pass: the mark is written as the start of the first header; copying the plain
    CSV behind a mark cost 1.7x DuckDB's COPY at 1.2 M rows)."""
    write_csv(con, source, target, columns, bom=True)


def write_parquet(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
                  columns: list[tuple[str, str]]) -> None:
    shutil.copyfile(source, target)  # the source already is the Parquet export


def _json_select(source: Path, columns: list[tuple[str, str]]) -> str:
    parts = [f"strftime({q(name)}, '{TIMESTAMP_FORMAT}') AS {q(name)}" if typ == "TIMESTAMP"
             else q(name) for name, typ in columns]
    return f"SELECT {', '.join(parts)} FROM read_parquet({lit(str(source))})"


@contextmanager
def _one_thread(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's JSON writer on one thread: with two, keeping the rows in order held finished
    batches back under the memory limit. Measured at 1.2 M rows on the quiet 2-core machine
    (business registry / population): 2 threads 1.8-2.0 s and ~480 MB peak, 1 thread 1.3-1.4 s
    and ~115 MB; DuckDB's own COPY (2 threads, no limit, no order kept) 1.0-1.6 s, 720-830 MB."""
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]  # type: ignore[index]
    con.execute("SET threads = 1")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(threads)}")


def write_ndjson(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
                 columns: list[tuple[str, str]]) -> None:
    with _one_thread(con):
        con.execute(f"COPY ({_json_select(source, columns)}) TO {lit(str(target))} (FORMAT json)")


def write_json_array(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
                     columns: list[tuple[str, str]]) -> None:
    with _one_thread(con):
        con.execute(f"COPY ({_json_select(source, columns)}) TO {lit(str(target))} "
                    f"(FORMAT json, ARRAY true)")


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
