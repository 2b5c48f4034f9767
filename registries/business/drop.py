"""Writes the business registration system's export files into the drop folder.

A day's drop is several files, as the province receives them today:
  dkkd_<YYYYMMDD>_01.csv   new system, UTF-8 with a BOM (Excel's "CSV UTF-8")
  dkkd_<YYYYMMDD>_02.xlsx  new system, a title row above the header, date cells
  dkkd_<YYYYMMDD>_03.csv   old system, TCVN3, ";"-separated, the old system's headers
  dkkd_<YYYYMMDD>_04.csv   old system, VNI Windows
  dkkd_<YYYYMMDD>_05.csv   old system, Windows-1258
  dkkd_<YYYYMMDD>_06.xlsx  old system, text typed in a TCVN3 font (".VnTime")
The file names do not say the encoding: the connector has to find out. Each file is
written under a temporary hidden name and renamed into place, the way a drop must be
written so a reader never sees half a file.

A day's files are written once: a drop (`initial_drop`, `drop_day`) never rewrites a file
it already dropped, and its bytes depend only on (day, size, seed, as_of) (the workbook's
timestamps are the day's, not the clock's), so starting the simulation again on the same
folder changes nothing and the connector's checksum ledger sees nothing new.
"""

from __future__ import annotations

import csv
import io
import os
import random
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from registries.business import encoders
from registries.business.generator import (
    COLUMNS,
    DayChanges,
    day_changes,
    generate_business,
)

Record = dict[str, str | None]

NEW_HEADERS = ("Mã số doanh nghiệp", "Loại đơn vị", "Tên doanh nghiệp", "Loại hình doanh nghiệp",
               "Mã trạng thái thuế", "Địa chỉ trụ sở", "Mã xã", "Danh mục mã xã",
               "Số định danh chủ sở hữu", "Mã ngành kinh tế chính", "Ngày đăng ký lần đầu",
               "Ngày cập nhật")
OLD_HEADERS = ("MST", "Loại đơn vị", "Tên đơn vị", "Loại hình", "Trạng thái", "Địa chỉ",
               "Mã đơn vị hành chính", "Danh mục ĐVHC", "Số CCCD người đại diện",
               "Ngành nghề chính", "Ngày cấp", "Ngày cập nhật")

NEW_FILES = (("01", "utf-8-sig", 0.6), ("02", "xlsx", 0.4))
OLD_FILES = (("03", "tcvn3", 0.35), ("04", "vni", 0.25), ("05", "cp1258", 0.2),
             ("06", "xlsx-tcvn3-font", 0.2))


@dataclass
class DropFileSpec:
    """One file of a drop: how it is written and which records it holds."""

    name: str
    encoding: str
    headers: Sequence[str]
    records: list[Record] = field(default_factory=list)
    delimiter: str = ","


def file_name(day: date, number: str, encoding: str) -> str:
    suffix = "xlsx" if encoding.startswith("xlsx") else "csv"
    return f"dkkd_{day:%Y%m%d}_{number}.{suffix}"


def plan_files(records: list[Record], day: date, seed: int) -> list[DropFileSpec]:
    """Spread records over the day's files: new-system records over 01-02, old over 03-06.
    Text that a TCVN3 font cannot show (its upper-case letters on control bytes) stays out
    of the font-encoded workbook."""
    rng = random.Random(f"files:{seed}:{day.isoformat()}")
    files: dict[str, DropFileSpec] = {}
    for number, encoding, _ in NEW_FILES + OLD_FILES:
        old = number in {n for n, _, _ in OLD_FILES}
        files[number] = DropFileSpec(
            name=file_name(day, number, encoding), encoding=encoding,
            headers=OLD_HEADERS if old else NEW_HEADERS, delimiter=";" if number == "03" else ",")
    for record in records:
        choices = OLD_FILES if record["_system"] == "old" else NEW_FILES
        number = rng.choices([c[0] for c in choices], weights=[c[2] for c in choices])[0]
        if number == "06" and not _font_safe(record):
            number = "03"
        files[number].records.append(record)
    return [f for f in files.values() if f.records]


TCVN3_CONTROL_LETTERS = frozenset("ÚỤỪỬỮỨỰỲỶỸÝỴ")
"""TCVN3 puts these on control bytes, which a workbook cannot hold."""


def _font_safe(record: Record) -> bool:
    return not any(ch in TCVN3_CONTROL_LETTERS for c in COLUMNS for ch in str(record[c] or ""))


def _csv_text(spec: DropFileSpec) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=spec.delimiter, lineterminator="\r\n")
    writer.writerow(spec.headers)
    for record in spec.records:
        writer.writerow(["" if record[c] is None else record[c] for c in COLUMNS])
    return buffer.getvalue()


def csv_bytes(spec: DropFileSpec) -> bytes:
    text = _csv_text(spec)
    if spec.encoding == "utf-8-sig":
        return text.encode("utf-8-sig")
    if spec.encoding == "utf-8":
        return text.encode("utf-8")
    if spec.encoding == "tcvn3":
        return encoders.tcvn3_bytes(text)
    if spec.encoding == "cp1258":
        return encoders.cp1258_bytes(text)
    if spec.encoding == "vni":
        return encoders.vni_bytes(text)
    raise ValueError(f"unknown CSV encoding {spec.encoding!r}")


def _cell(column: str, value: str | None) -> object:
    """XLSX cell value: dates and timestamps as date cells (local time, no offset) when they
    are real dates; anything else as text, as a clerk would have typed it."""
    if value is None:
        return None
    if column == "registered_date":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    if column == "updated_at" and value.endswith("+07:00"):
        return datetime.fromisoformat(value[:-6])
    return value


def xlsx_bytes(spec: DropFileSpec, day: date) -> bytes:
    from openpyxl import Workbook

    font = spec.encoding == "xlsx-tcvn3-font"
    book = Workbook()  # not write_only: Excel's layout (dimension first, shared strings)
    sheet = book.active
    sheet.title = "DKKD"
    title = f"DANH SÁCH DOANH NGHIỆP VÀ CHI NHÁNH - NGÀY {day:%d/%m/%Y}"
    texts = [title, *spec.headers]
    rows = [[_cell(c, r[c]) for c in COLUMNS] for r in spec.records]
    if font:
        strings = [v for row in rows for v in row if isinstance(v, str)]
        shown = iter(encoders.tcvn3_font_text(texts + strings))
        texts = [next(shown) for _ in texts]
        rows = [[next(shown) if isinstance(v, str) else v for v in row] for row in rows]
    sheet.append([texts[0]])
    sheet.append([None])
    sheet.append(texts[1:])
    for row in rows:
        sheet.append(row)
    stamp = datetime(day.year, day.month, day.day, 17, 0)  # exported at the day's close
    book.properties.created = stamp
    buffer = io.BytesIO()
    book.save(buffer)
    return _stamped(buffer.getvalue(), stamp)


def _stamped(xlsx: bytes, stamp: datetime) -> bytes:
    """The workbook with the clock's traces replaced by `stamp`: openpyxl writes the save
    time into docProps/core.xml (dcterms:modified) and into every zip entry's header."""
    import re

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + f"{stamp:%Y-%m-%dT%H:%M:%SZ}".encode() + rb"\g<2>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, data)
    return out.getvalue()


def write_atomically(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(data)
    final = folder / name
    os.replace(tmp, final)
    return final


def write_once(folder: Path, name: str, data: bytes) -> Path:
    """Drop a file unless one of that name is already there (then it is left as it is):
    written under a unique hidden name and linked into place, which fails rather than
    replaces, so two simulations starting on one folder at once write each file once."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    if final.exists():
        return final
    tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_bytes(data)
    try:
        os.link(tmp, final)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return final


def write_files(folder: Path, specs: list[DropFileSpec], day: date) -> list[Path]:
    """Write the day's files that are not in the folder yet (a drop is never rewritten)."""
    out = []
    for spec in specs:
        if (folder / spec.name).exists():
            out.append(folder / spec.name)
            continue
        data = xlsx_bytes(spec, day) if spec.encoding.startswith("xlsx") else csv_bytes(spec)
        out.append(write_once(folder, spec.name, data))
    return out


@dataclass
class Drop:
    """What a drop wrote: the files, and the records with their ground truth."""

    day: date
    files: list[Path]
    records: list[Record]
    specs: list[DropFileSpec]


def initial_drop(folder: str | Path, size: int, seed: int = 42, as_of: str = "2026-11-01"
                 ) -> Drop:
    """The registry as of `as_of` (a full export), written as that day's files."""
    day = date.fromisoformat(as_of)
    records = generate_business(size, seed, as_of)
    specs = plan_files(records, day, seed)
    return Drop(day=day, files=write_files(Path(folder), specs, day), records=records,
                specs=specs)


def drop_day(folder: str | Path, day: date | str, size: int, seed: int = 42,
             as_of: str = "2026-11-01") -> Drop:
    """Another day's files: that day's updates (file 01, UTF-8) and new enterprises
    (file 02, XLSX). Deterministic for (day, size, seed, as_of)."""
    changes: DayChanges = day_changes(size, seed, day, as_of)
    specs = [
        DropFileSpec(name=file_name(changes.day, "01", "utf-8-sig"), encoding="utf-8-sig",
                     headers=NEW_HEADERS, records=changes.updated),
        DropFileSpec(name=file_name(changes.day, "02", "xlsx"), encoding="xlsx",
                     headers=NEW_HEADERS, records=changes.new),
    ]
    specs = [s for s in specs if s.records]
    return Drop(day=changes.day, files=write_files(Path(folder), specs, changes.day),
                records=changes.records, specs=specs)
