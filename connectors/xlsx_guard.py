"""An XLSX workbook checked against the spec's limits before openpyxl reads it.

openpyxl trusts what a workbook says: a 5 kB sheet with `<row r="1000000000000">` makes its
reader yield every missing row (days of CPU), and a 1.5 MB zip holding one 1.5 GB cell
takes a worker past its memory. Before any of that, this module looks at the archive's
declared sizes (total and per member, and each member's compression ratio), then streams
each worksheet's XML (within those declared sizes) for the row numbers and cell references
it names, and counts formula cells. Anything beyond `source.limits` is refused with the file
(and sheet) named.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from catalog.spec import Limits
from connectors.limits import LimitExceeded, size

_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\b[^>]*?\sr=\"(\d+)\"")
_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c\b[^>]*?\sr=\"([A-Z]+)(\d+)\"")
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
PIECE = 1 << 20
OVERLAP = 512
SMALL_MEMBER = 1 << 20
"""Members below this size are not judged by their compression ratio (tiny XML parts
compress very well and can do no harm)."""


@dataclass
class WorkbookScan:
    formula_cells: int = 0
    max_row: int = 0
    max_column: int = 0


def column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def check_workbook(path: Path, name: str, limits: Limits) -> WorkbookScan:
    """Raise LimitExceeded naming the file when the workbook is bigger than the limits
    allow; zipfile.BadZipFile when it is no zip (the caller reports it as malformed)."""
    scan = WorkbookScan()
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        if total > limits.xlsx_max_uncompressed_bytes:
            raise LimitExceeded(
                f"{name}: the workbook unpacks to {size(total)}, more than "
                f"source.limits.xlsx_max_uncompressed_bytes "
                f"({size(limits.xlsx_max_uncompressed_bytes)}); not read")
        for m in members:
            ratio = m.file_size / max(m.compress_size, 1)
            if m.file_size > SMALL_MEMBER and ratio > limits.xlsx_max_compression_ratio:
                raise LimitExceeded(
                    f"{name}: part {m.filename} expands {ratio:,.0f} times ({size(m.compress_size)} "
                    f"-> {size(m.file_size)}), more than source.limits.xlsx_max_compression_ratio "
                    f"({limits.xlsx_max_compression_ratio:g}): a zip bomb?; not read")
        for m in members:
            if m.filename.startswith("xl/worksheets/") and m.filename.endswith(".xml"):
                _scan_sheet(archive, m, name, limits, scan)
    return scan


def _scan_sheet(archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, limits: Limits,
                scan: WorkbookScan) -> None:
    sheet = member.filename.removeprefix("xl/worksheets/")
    read = 0
    tail = b""
    with archive.open(member) as fh:
        while piece := fh.read(PIECE):
            read += len(piece)
            if read > member.file_size:  # more than the archive declared: lying sizes
                raise LimitExceeded(f"{name}: part {member.filename} holds more than the "
                                    f"{size(member.file_size)} its zip entry declares; not read")
            text = tail + piece
            for match in _ROW.finditer(text):
                scan.max_row = max(scan.max_row, int(match.group(1)))
            for match in _CELL.finditer(text):
                scan.max_column = max(scan.max_column, column_number(match.group(1)))
                scan.max_row = max(scan.max_row, int(match.group(2)))
            scan.formula_cells += len(_FORMULA.findall(piece))
            if scan.max_row > limits.xlsx_max_rows:
                raise LimitExceeded(f"{name}: sheet {sheet} names row {scan.max_row:,}, beyond "
                                    f"source.limits.xlsx_max_rows ({limits.xlsx_max_rows:,}); "
                                    "not read")
            if scan.max_column > limits.xlsx_max_columns:
                raise LimitExceeded(f"{name}: sheet {sheet} names column {scan.max_column:,}, "
                                    f"beyond source.limits.xlsx_max_columns "
                                    f"({limits.xlsx_max_columns:,}); not read")
            tail = piece[-OVERLAP:]
