"""File-drop transport: the CSV and XLSX files a registry exports into a folder, once each.

Registered as `file_drop`. Parameters (spec `source.params`):
  folder         the drop folder (${ENV:-default}); a relative path is under LGSP_HOME.
  patterns       file name patterns, default ["*.csv", "*.xlsx"] (hidden, "~$" lock and
                 .tmp/.part files are never read: writers drop a file by renaming it).
  columns        header as the source writes it -> spec column ("Mã số doanh nghiệp":
                 enterprise_code). Headers are compared after NFC, case folding and
                 collapsing spaces; a header equal to a column name maps to it.
  delimiter      CSV delimiter, or "auto" (default): the one of , ; tab | that makes the
                 header row match the most mapped headers.
  header_row     1-based row of the header, or "auto" (default): the first of the first 10
                 rows holding at least two mapped headers (rows above it are reported).
  batch_rows     rows per Arrow batch (default 50,000): memory holds one batch.
  naive_timezone offset given to XLSX date-times without one (default "+07:00").
  min_syllable_share  legacy-encoding detection threshold (default 0.85).
  min_syllable_lead   how far the chosen legacy encoding's share must lead the next one's
                 (default 0.1); a file below either threshold fails naming every candidate.
  trust_mtime    skip hashing a file whose name, size and mtime are in the ledger (default
                 true; false re-hashes every file on every run).

Exactly once: a ledger of the SHA-256 of every file ingested lives in the dataset's state
(`state.extra["file_drop"]`). `pending_state()` hands the updated ledger to the publish
step, so a file counts as ingested only when the run that read it publishes. A file whose
content is in the ledger is skipped whatever its name (renamed or re-dropped copies); a
changed file under an old name has a new checksum and is read again. Two identical files in
one drop are read once.

Encodings (see connectors.encodings): per file, a BOM, else strict UTF-8, else the legacy
encoding (TCVN3, VNI, Windows-1258, VISCII) whose decoding reads as Vietnamese, clearly
ahead of the others (else the file fails naming the candidates and their scores); text is
repaired to NFC. Unicode text typed through a legacy font is repaired when the whole file reads
better that way. The encoding of each file is in describe()["files"] (the run manifest).

Malformed input fails the extract (policy): a ragged row, bad quoting, a truncated CSV (a
last line without the line terminator the other lines have, or an unterminated quote) or
XLSX, bytes no encoding explains, a header that cannot be found, a file that lacks a
required column the other files of the drop have. The error names the file and the row;
nothing is published and no file of the drop is marked ingested, so the next run after the
file is fixed (replaced under the same name, or removed) reads the whole drop again.

Each batch holds the spec's columns the file has (strings as delivered, empty cells as
null), then the file's other columns under their header, then `_source_file`,
`_source_row` (the line of a CSV record, the row of an XLSX sheet; header = row 1 at the top
of the file) and, for XLSX, `_source_sheet`, so a quarantined row (`_row` in the raw run)
traces back to the file and row it came from.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import logging
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from catalog.spec import DatasetSpec
from connectors import encodings as enc
from connectors.base import ConnectorError, SchemaDrift, Window
from connectors.registry import register
from connectors.state import DatasetState

log = logging.getLogger(__name__)

STATE_KEY = "file_drop"
SOURCE_FILE, SOURCE_ROW, SOURCE_SHEET = "_source_file", "_source_row", "_source_sheet"
PROVENANCE = (SOURCE_FILE, SOURCE_ROW, SOURCE_SHEET)
DELIMITERS = (",", ";", "\t", "|")
HEADER_SEARCH_ROWS = 10
SAMPLE_BYTES = 256 * 1024
SAMPLE_ROWS = 500
CHUNK = 1 << 20


class MalformedFile(ConnectorError):
    """A dropped file cannot be read as a table; the message names the file and row."""

    def __init__(self, file: str, where: str | int | None, problem: str) -> None:
        place = f"row {where}: " if isinstance(where, int) else (f"{where}: " if where else "")
        super().__init__(f"{file}: {place}{problem}")
        self.file, self.where, self.problem = file, where, problem


def _norm_header(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@dataclass
class Header:
    """Where the header is and what each of its cells becomes."""

    row: int
    """1-based record (CSV) or sheet row (XLSX) of the header."""
    cells: list[str]
    """Column name per cell position: a spec column, or the header text of an extra one."""
    width: int
    preamble: list[str] = field(default_factory=list)

    def columns(self, spec_names: list[str]) -> list[str]:
        return [n for n in spec_names if n in self.cells] + [
            n for n in self.cells if n not in spec_names]


@dataclass
class Sheet:
    name: str | None
    header: Header


@dataclass
class DropFile:
    path: Path
    name: str
    size: int
    mtime_ns: int
    sha256: str = ""
    kind: str = "csv"
    detection: enc.Detection | None = None
    delimiter: str = ","
    sheets: list[Sheet] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


class HeaderMap:
    """Header text -> spec column, from the spec params plus the column names themselves."""

    def __init__(self, spec: DatasetSpec, mapping: dict[str, str]) -> None:
        self.spec_names = spec.column_names
        self.types = {c.name: c.type for c in spec.columns}
        self.map: dict[str, str] = {_norm_header(n): n for n in self.spec_names}
        for header, column in mapping.items():
            if column not in self.spec_names:
                raise ConnectorError(
                    f"{spec.path or spec.id}: source.params.columns: header {header!r} maps to "
                    f"{column!r}, which is not a column of the spec"
                )
            self.map[_norm_header(str(header))] = column

    def hits(self, cells: Sequence[Any]) -> int:
        return sum(1 for c in cells if isinstance(c, str) and _norm_header(c) in self.map)

    def build(self, file: str, row: int, cells: Sequence[Any],
              preamble: list[str]) -> Header:
        texts = ["" if c is None else str(c) for c in cells]
        while texts and not texts[-1].strip():
            texts.pop()
        names: list[str] = []
        where: dict[str, int] = {}
        for i, text in enumerate(texts, start=1):
            clean = unicodedata.normalize("NFC", text).strip()
            name = self.map.get(_norm_header(clean)) or clean or f"column {i}"
            if name in PROVENANCE:
                raise MalformedFile(file, row, f"header cell {i} {clean!r} is a reserved name")
            if name in where:
                if name in self.spec_names:
                    raise MalformedFile(file, row, f"header cells {where[name]} and {i} both "
                                                   f"map to column {name!r}")
                name = f"{name} ({i})"
            where[name] = i
            names.append(name)
        return Header(row=row, cells=names, width=len(names), preamble=preamble)


def _find_header(file: str, rows: Sequence[tuple[int, Sequence[Any]]], headers: HeaderMap,
                 header_row: int | None) -> Header | None:
    """The header among the first rows: the given row, or the first with 2+ mapped cells."""
    preamble: list[str] = []
    for number, cells in rows:
        if header_row is not None:
            if number == header_row:
                return headers.build(file, number, cells, preamble)
        elif headers.hits(cells) >= 2:
            return headers.build(file, number, cells, preamble)
        if any(c not in (None, "") for c in cells):
            preamble.append(" | ".join(str(c) for c in cells if c not in (None, "")))
    return None


# --- the ledger ---------------------------------------------------------------------------


class Ledger:
    """SHA-256 -> what was ingested under it, as kept in the dataset's state."""

    def __init__(self, extra: dict[str, Any]) -> None:
        self.entries: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (extra.get(STATE_KEY, {}) or {}).get("ingested", {}).items()
        }
        self.by_stat: dict[tuple[str, int, int], str] = {}
        for sha, entry in self.entries.items():
            for name, size, mtime in entry.get("seen", []):
                self.by_stat[(name, int(size), int(mtime))] = sha

    def known_stat(self, f: DropFile) -> str | None:
        return self.by_stat.get((f.name, f.size, f.mtime_ns))

    def note_seen(self, sha: str, f: DropFile) -> None:
        seen = self.entries[sha].setdefault("seen", [])
        if [f.name, f.size, f.mtime_ns] not in seen:
            seen.append([f.name, f.size, f.mtime_ns])

    def add(self, f: DropFile, until: str) -> None:
        self.entries[f.sha256] = {
            "name": f.name, "bytes": f.size, "rows": f.report.get("rows", 0),
            "format": f.kind, "encoding": f.report.get("encoding"), "ingested_until": until,
            "seen": [[f.name, f.size, f.mtime_ns]],
        }

    def as_state(self) -> dict[str, Any]:
        return {STATE_KEY: {"ingested": self.entries}}


# --- CSV ---------------------------------------------------------------------------------


@dataclass
class _ByteScan:
    sha256: str
    bom: tuple[bytes, str] | None
    utf8: bool
    non_ascii: list[bytes]


def _scan(path: Path) -> _ByteScan:
    """One pass over the bytes: checksum, BOM, strict UTF-8, a sample of non-ASCII lines."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, bom, sample, sampled = True, None, [], 0
    with path.open("rb") as fh:
        first = True
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
            body = chunk
            if first:
                first = False
                bom = next(((m, n) for m, n in enc.BOMS if chunk.startswith(m)), None)
                body = chunk[len(bom[0]):] if bom else chunk
            if utf8 and (bom is None or bom[1] == enc.UTF8_BOM):
                try:
                    decoder.decode(body)
                except UnicodeDecodeError:
                    utf8 = False
            if sampled < SAMPLE_BYTES and not body.isascii():
                for line in body.split(b"\n"):
                    if not line.isascii():
                        sample.append(line)
                        sampled += len(line)
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    return _ByteScan(digest.hexdigest(), bom, utf8, sample)


def _first_bad_utf8_line(path: Path, skip: int) -> tuple[int, str]:
    with path.open("rb") as fh:
        fh.read(skip)
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, f"bytes {raw[exc.start:exc.end]!r} at position {exc.start + 1}"
    return 0, "the file ends inside a multi-byte character"


def _unterminated_last_line(f: DropFile, number: int) -> MalformedFile:
    return MalformedFile(f.name, number, "the last line has no line terminator while the lines "
                                         "before it have one: the file looks truncated (cut "
                                         "while it was written or copied); its last record is "
                                         "not read as it is, and nothing of this drop is "
                                         "ingested until the file is replaced whole")


def _csv_text_lines(f: DropFile) -> Iterator[str]:
    """The file's lines as text (decoded, repaired); checks the file did not change. A last
    line with content but no line terminator after lines that have one is a truncated file
    (a value cut inside, "2026-04-27T07:5", may still look like a value): it fails."""
    assert f.detection is not None
    encoding, repair = f.detection.encoding, f.detection.repair
    fix = enc.TEXT_REPAIRS.get(repair) if repair else None
    if encoding == enc.UTF16:
        with f.path.open("r", encoding="utf-16", newline="") as text:
            number = 0
            try:
                for number, line in enumerate(text, start=1):  # noqa: B007
                    if number > 1 and not line.endswith(("\n", "\r")) and line.strip():
                        raise _unterminated_last_line(f, number)
                    yield fix(line) if fix else line
            except UnicodeDecodeError as exc:
                raise MalformedFile(f.name, number + 1, f"not valid UTF-16: {exc.reason}") from None
        return
    decode = enc.LINE_DECODERS[encoding]
    digest = hashlib.sha256()
    with f.path.open("rb") as fh:
        if encoding == enc.UTF8_BOM:
            digest.update(fh.read(3))
        for number, raw in enumerate(fh, start=1):
            digest.update(raw)
            if number > 1 and not raw.endswith(b"\n") and raw.strip():
                raise _unterminated_last_line(f, number)
            try:
                line = decode(raw)
            except enc.UndecodableLine as exc:
                raise MalformedFile(f.name, number, f"{exc} (file read as {encoding})") from None
            yield fix(line) if fix else line
    if digest.hexdigest() != f.sha256:
        raise ConnectorError(f"{f.name}: the file changed while it was being read; "
                             "nothing from this run is published, the next run reads it again")


def _csv_records(f: DropFile, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells); blank lines skipped; bad quoting rejected."""
    reader = csv.reader(_csv_text_lines(f), delimiter=delimiter, strict=True)
    previous = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            hint = " (unterminated quoted field: file truncated?)" if "end of data" in str(
                exc) else ""
            raise MalformedFile(f.name, previous + 1, f"bad CSV: {exc}{hint}") from None
        start, previous = previous + 1, reader.line_num
        if record and any(cell.strip() for cell in record):
            yield start, record


# --- XLSX --------------------------------------------------------------------------------


def _open_workbook(f: DropFile) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(f.path, read_only=True, data_only=True)
    except OSError:
        raise  # the file is gone or unreadable: not a property of its content
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, XML errors
        raise MalformedFile(f.name, None, f"not a readable XLSX workbook ({type(exc).__name__}: "
                                          f"{exc}): truncated, or not an .xlsx file?") from None


def _sheet_rows(f: DropFile, ws: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
    ws.reset_dimensions()  # never trust the stored dimension: it can cut rows off
    number = 0
    try:
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):  # noqa: B007
            yield number, row
    except (MalformedFile, OSError):
        raise
    except Exception as exc:
        raise MalformedFile(f.name, f"sheet {ws.title!r} row {number + 1}",
                            f"unreadable XLSX content ({type(exc).__name__}: {exc})") from None


def _cell_text(value: Any, column_type: str | None, tz: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if column_type == "date" and value.time() == time(0):
            return value.date().isoformat()
        text = value.isoformat()
        return text if value.tzinfo else text + tz
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


# --- the connector -----------------------------------------------------------------------


class FileDropConnector:
    def __init__(self, spec: DatasetSpec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.drift = SchemaDrift()
        folder = Path(str(params["folder"]))
        if not folder.is_absolute():
            from lgsp.config import Settings

            folder = Settings.from_env().home / folder
        self.folder = folder
        patterns = params.get("patterns", ["*.csv", "*.xlsx"])
        self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.headers = HeaderMap(spec, dict(params.get("columns") or {}))
        self.delimiter = str(params.get("delimiter", "auto"))
        header_row = params.get("header_row", "auto")
        self.header_row = None if str(header_row) == "auto" else int(header_row)
        self.batch_rows = int(params.get("batch_rows", 50_000))
        self.naive_tz = str(params.get("naive_timezone", "+07:00"))
        self.min_share = float(params.get("min_syllable_share", enc.MIN_SHARE))
        self.min_lead = float(params.get("min_syllable_lead", enc.MIN_LEAD))
        self.trust_mtime = str(params.get("trust_mtime", True)).lower() not in ("false", "0", "no")
        self.reports: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self._pending: dict[str, Any] = {}
        self._source: dict[str, Any] = {
            "connector": "file_drop", "folder": str(self.folder), "patterns": self.patterns,
            "files": self.reports, "skipped": self.skipped, "already_ingested": 0,
        }

    def describe(self) -> dict[str, Any]:
        """The drop folder; `files` (name, checksum, detected encoding, rows, header row,
        missing and extra columns), `skipped` (copies of ingested or of this drop's files)
        and the count of files `already_ingested` fill in while extract() runs: the raw-run
        writer serialises this dict when the run commits, so the manifest has them."""
        return self._source

    def pending_state(self) -> dict[str, Any]:
        return self._pending

    # -- planning

    def _list(self) -> list[DropFile]:
        if not self.folder.is_dir():
            raise ConnectorError(f"{self.spec.id}: drop folder {self.folder} does not exist or is "
                                 "not a folder (is the share mounted?)")
        found: dict[str, DropFile] = {}
        refused = {s["name"] for s in self.skipped}
        for pattern in self.patterns:
            for path in self.folder.glob(pattern):
                name = path.relative_to(self.folder).as_posix()
                base = path.name
                if (base.startswith((".", "~$")) or base.endswith((".tmp", ".part"))
                        or name in found or name in refused):
                    continue
                problem = drop_entry_problem(self.folder, path)
                if problem:
                    # Never followed: a link can point anywhere (/etc/passwd, another
                    # dataset's folder). Named in the manifest; the other files go on.
                    self.skipped.append({"name": name, "reason": problem})
                    refused.add(name)
                    log.warning("%s: %s: %s; not read", self.spec.id, name, problem)
                    continue
                st = path.lstat()
                kind = "xlsx" if base.lower().endswith((".xlsx", ".xlsm")) else "csv"
                found[name] = DropFile(path=path, name=name, size=st.st_size,
                                       mtime_ns=st.st_mtime_ns, kind=kind)
        return [found[k] for k in sorted(found)]

    def _plan(self, ledger: Ledger) -> list[DropFile]:
        todo: list[DropFile] = []
        this_run: dict[str, str] = {}
        for f in self._list():
            known = ledger.known_stat(f) if self.trust_mtime else None
            if known and self.spec.source.incremental:
                self._source["already_ingested"] += 1
                continue
            if f.kind == "csv":
                scan = _scan(f.path)
                f.sha256 = scan.sha256
            else:
                scan = None
                f.sha256 = _sha256(f.path)
            if f.sha256 in ledger.entries and self.spec.source.incremental:
                first = ledger.entries[f.sha256]["name"]
                ledger.note_seen(f.sha256, f)
                if first == f.name:
                    self._source["already_ingested"] += 1
                else:
                    self.skipped.append({"name": f.name, "sha256": f.sha256, "reason":
                                         f"same content as {first!r}, already ingested"})
                continue
            if f.sha256 in this_run:
                self.skipped.append({"name": f.name, "sha256": f.sha256,
                                     "reason": f"same content as {this_run[f.sha256]!r} "
                                               "in this drop"})
                continue
            this_run[f.sha256] = f.name
            if scan is not None:
                self._plan_csv(f, scan)
            else:
                self._plan_xlsx(f)
            todo.append(f)
        self._check_required(todo)
        return todo

    def _plan_csv(self, f: DropFile, scan: _ByteScan) -> None:
        if scan.bom is not None:
            if scan.bom[1] == enc.UTF8_BOM and not scan.utf8:
                line, what = _first_bad_utf8_line(f.path, 3)
                raise MalformedFile(f.name, line, f"starts with a UTF-8 byte-order mark but "
                                                  f"{what} are not valid UTF-8")
            f.detection = enc.Detection(encoding=scan.bom[1])
        elif scan.utf8:
            f.detection = enc.Detection(encoding=enc.UTF8)
        else:
            try:
                f.detection = enc.detect_legacy(scan.non_ascii, self.min_share, self.min_lead)
            except enc.UnknownEncoding as exc:
                line, what = _first_bad_utf8_line(f.path, 0)
                raise MalformedFile(f.name, line, f"undecodable text: {what} are not UTF-8, "
                                                  f"and {exc}") from None
        if f.detection.encoding in (enc.UTF8, enc.UTF8_BOM) and scan.non_ascii:
            repair = enc.detect_text([_decode_loose(b) for b in scan.non_ascii], self.min_share)
            f.detection.repair, f.detection.scores = repair.repair, repair.scores
        f.delimiter, header = self._csv_header(f)
        f.sheets = [Sheet(name=None, header=header)]
        self._report(f)

    def _csv_header(self, f: DropFile) -> tuple[str, Header]:
        candidates = DELIMITERS if self.delimiter == "auto" else (self.delimiter,)
        best: tuple[int, str, Header | None] = (-1, candidates[0], None)
        for delimiter in candidates:
            rows: list[tuple[int, Sequence[Any]]] = []
            try:
                for number, record in _csv_records(f, delimiter):
                    rows.append((number, record))
                    if len(rows) >= HEADER_SEARCH_ROWS:
                        break
            except MalformedFile:
                if self.delimiter != "auto":
                    raise
            header = _find_header(f.name, rows, self.headers, self.header_row)
            hits = self.headers.hits(header.cells) if header else 0
            if header and hits > best[0]:
                best = (hits, delimiter, header)
        if best[2] is None:
            raise self._no_header(f.name)
        return best[1], best[2]

    def _no_header(self, name: str, sheet: str | None = None) -> MalformedFile:
        where = f"sheet {sheet!r}, rows 1-{HEADER_SEARCH_ROWS}" if sheet else (
            f"rows 1-{HEADER_SEARCH_ROWS}")
        if self.header_row is not None:
            where = f"row {self.header_row}" + (f" of sheet {sheet!r}" if sheet else "")
        known = sorted(h for h, c in self.headers.map.items() if h != c)[:4]
        return MalformedFile(name, where, "no header row found: expected at least two known "
                                          f"headers such as {', '.join(map(repr, known))}")

    def _plan_xlsx(self, f: DropFile) -> None:
        """Header of every sheet, and whether the text needs a legacy-font repair (decided
        on the first rows of all sheets together, before looking for the header). The
        archive is checked against the spec's limits first (sizes, ratios, dimensions)."""
        formulas = _guard_workbook(f, self.spec.source.limits)
        wb = _open_workbook(f)
        search = max(HEADER_SEARCH_ROWS, self.header_row or 0)
        heads: list[tuple[str, list[tuple[int, Sequence[Any]]]]] = []
        try:
            sheet_names = list(wb.sheetnames)
            for ws in wb.worksheets:
                rows: list[tuple[int, Sequence[Any]]] = []
                for number, row in _sheet_rows(f, ws):
                    rows.append((number, row))
                    if number >= max(search, SAMPLE_ROWS):
                        break
                heads.append((ws.title, rows))
        finally:
            wb.close()
        sample = [v for _, rows in heads for _, row in rows for v in row if isinstance(v, str)]
        f.detection = enc.detect_text(sample, self.min_share)
        fix = enc.TEXT_REPAIRS.get(f.detection.repair) if f.detection.repair else None
        skipped_sheets = []
        for title, rows in heads:
            if fix:
                rows = [(n, [fix(v) if isinstance(v, str) else v for v in row]) for n, row in rows]
            header = _find_header(f.name, rows[:search], self.headers, self.header_row)
            if header is not None:
                f.sheets.append(Sheet(name=title, header=header))
            elif any(v not in (None, "") for _, row in rows for v in row):
                skipped_sheets.append({"sheet": title, "reason": "no header row found in the "
                                                                 f"first {search} rows"})
        if not f.sheets:
            raise self._no_header(f.name, sheet_names[0] if sheet_names else None)
        self._report(f)
        if formulas:
            f.report["formula_cells"] = formulas
            log.warning("%s: %d formula cells: their cached values are read as delivered and "
                        "flagged by the quality report where they look like formulas", f.name,
                        formulas)
        if skipped_sheets:
            f.report["skipped_sheets"] = skipped_sheets
            log.warning("%s: sheets without a recognised header were not read: %s", f.name,
                        skipped_sheets)

    def _report(self, f: DropFile) -> None:
        assert f.detection is not None
        names = self.spec.column_names
        seen: set[str] = set()
        for sheet in f.sheets:
            seen.update(sheet.header.cells)
        f.report = {
            "name": f.name, "sha256": f.sha256, "bytes": f.size, "format": f.kind,
            **f.detection.as_dict(),
            "header_row": {s.name or "": s.header.row for s in f.sheets} if f.kind == "xlsx"
            else f.sheets[0].header.row,
            "missing_columns": [n for n in names if n not in seen],
            "extra_columns": sorted(seen - set(names)),
            "rows": 0,
        }
        if f.kind == "csv":
            f.report["delimiter"] = f.delimiter
        preamble = [p for s in f.sheets for p in s.header.preamble]
        if preamble:
            f.report["rows_above_header"] = preamble

    def _check_required(self, files: list[DropFile]) -> None:
        """A required column missing from some files of the drop but not all fails the
        extract (when every file lacks it, the gate blocks the run naming the column)."""
        required = [c.name for c in self.spec.columns if c.required]
        for col in required:
            lacking = [f.name for f in files if col in f.report["missing_columns"]]
            if lacking and len(lacking) < len(files):
                raise ConnectorError(
                    f"{', '.join(lacking)}: required column {col!r} is missing (headers mapped: "
                    f"{self._headers_for(col)}) while the other files of this drop have it; "
                    "fix the file (replace it under the same name) or remove it; nothing was "
                    "ingested"
                )

    def _headers_for(self, column: str) -> str:
        return ", ".join(repr(h) for h, c in self.headers.map.items() if c == column)

    # -- reading

    def extract(self, window: Window, state: DatasetState) -> Iterator[pa.RecordBatch]:
        ledger = Ledger(state.extra)
        self.reports.clear()
        self.skipped.clear()
        self._source["already_ingested"] = 0
        files = self._plan(ledger)
        for f in files:
            self.reports.append(f.report)
        for f in files:
            self.drift.note({c for s in f.sheets for c in s.header.cells}, self.spec.column_names)
            try:
                if f.kind == "csv":
                    yield from self._read_csv(f)
                else:
                    yield from self._read_xlsx(f)
            except FileNotFoundError:
                raise ConnectorError(
                    f"{f.name}: the file was listed at the start of this extract and is gone now "
                    "(drop folder unmounted, or the file moved?); nothing from this run is "
                    "published, the next run reads the drop again") from None
            except OSError as exc:
                raise ConnectorError(f"{f.name}: reading failed after {f.report['rows']} rows "
                                     f"({exc}); nothing from this run is published") from None
            log.info("%s: %d rows (%s)", f.name, f.report["rows"], f.report["encoding"])
        until = window.until.astimezone(UTC).isoformat()
        for f in files:
            ledger.add(f, until)
        self._pending = ledger.as_state()

    def _read_csv(self, f: DropFile) -> Iterator[pa.RecordBatch]:
        header = f.sheets[0].header
        names = header.columns(self.spec.column_names)
        positions = [header.cells.index(n) for n in names]
        rows: list[list[str]] = []
        numbers: list[int] = []
        for number, record in _csv_records(f, f.delimiter):
            if number <= header.row:
                continue  # the header and the rows above it
            if len(record) != header.width:
                if len(record) < header.width or any(c.strip() for c in record[header.width:]):
                    raise MalformedFile(f.name, number, f"{len(record)} fields, the header (row "
                                                        f"{header.row}) has {header.width}")
                record = record[:header.width]
            rows.append(record)
            numbers.append(number)
            if len(rows) >= self.batch_rows:
                yield self._batch(f, names, positions, rows, numbers, None)
                rows, numbers = [], []
        if rows:
            yield self._batch(f, names, positions, rows, numbers, None)

    def _batch(self, f: DropFile, names: list[str], positions: list[int],
               rows: list[Sequence[str | None]], numbers: list[int],
               sheet: str | None) -> pa.RecordBatch:
        columns = list(zip(*rows, strict=True))
        arrays = []
        for pos in positions:
            array = pa.array(columns[pos], pa.string())
            arrays.append(pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array))
        arrays.append(pa.array([f.name] * len(rows), pa.string()))
        arrays.append(pa.array([str(n) for n in numbers], pa.string()))
        out_names = [*names, SOURCE_FILE, SOURCE_ROW]
        if f.kind == "xlsx":
            arrays.append(pa.array([sheet] * len(rows), pa.string()))
            out_names.append(SOURCE_SHEET)
        f.report["rows"] += len(rows)
        return pa.RecordBatch.from_arrays(arrays, names=out_names)

    def _read_xlsx(self, f: DropFile) -> Iterator[pa.RecordBatch]:
        assert f.detection is not None
        fix = enc.TEXT_REPAIRS.get(f.detection.repair) if f.detection.repair else None
        wb = _open_workbook(f)
        try:
            for sheet in f.sheets:
                header = sheet.header
                names = header.columns(self.spec.column_names)
                positions = [header.cells.index(n) for n in names]
                types = [self.headers.types.get(c) for c in header.cells]
                rows: list[Sequence[str | None]] = []
                numbers: list[int] = []
                for number, row in _sheet_rows(f, wb[sheet.name]):
                    if number <= header.row or not any(v not in (None, "") for v in row):
                        continue
                    extra = [i + 1 for i, v in enumerate(row[header.width:], start=header.width)
                             if v not in (None, "")]
                    if extra:
                        raise MalformedFile(f.name, f"sheet {sheet.name!r} row {number}",
                                            f"cell in column {extra[0]} has a value but the "
                                            f"header (row {header.row}) has no column there")
                    values = []
                    for i in range(header.width):
                        value = row[i] if i < len(row) else None
                        if fix and isinstance(value, str):
                            value = fix(value)
                        values.append(_cell_text(value, types[i], self.naive_tz))
                    rows.append(values)
                    numbers.append(number)
                    if len(rows) >= self.batch_rows:
                        yield self._batch(f, names, positions, rows, numbers, sheet.name)
                        rows, numbers = [], []
                if rows:
                    yield self._batch(f, names, positions, rows, numbers, sheet.name)
        finally:
            wb.close()
        st = f.path.stat()
        if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
            raise ConnectorError(f"{f.name}: the file changed while it was being read; "
                                 "nothing from this run is published, the next run reads it again")


def drop_entry_problem(folder: Path, path: Path) -> str | None:
    """Why a directory entry matching the patterns is not ingested, or None for a regular
    file inside the folder (a symbolic link, a FIFO, a device, a folder, a path that leads
    outside the drop folder)."""
    import stat

    try:
        st = path.lstat()
    except OSError as exc:
        return f"cannot be examined ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link, not a regular file (links are never followed)"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if not path.resolve().is_relative_to(folder.resolve()):
        return "outside the drop folder (through a linked folder)"
    return None


def _guard_workbook(f: DropFile, limits: Any) -> int:
    """The workbook's formula cells, once its sizes and dimensions are checked."""
    import zipfile

    from connectors.xlsx_guard import check_workbook

    try:
        return check_workbook(f.path, f.name, limits).formula_cells
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise MalformedFile(f.name, None, f"not a readable XLSX workbook ({type(exc).__name__}: "
                                          f"{exc}): truncated, or not an .xlsx file?") from None


def _decode_loose(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@register("file_drop", required=("folder",), params={
    "folder": "text", "patterns": "any", "columns": "column_values", "delimiter": "text",
    "header_row": "any", "batch_rows": "int", "naive_timezone": "text",
    "min_syllable_share": "number", "min_syllable_lead": "number", "trust_mtime": "bool"})
def build_file_drop(spec: DatasetSpec, params: dict[str, Any]) -> FileDropConnector:
    return FileDropConnector(spec, params)

