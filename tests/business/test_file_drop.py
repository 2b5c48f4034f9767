"""The file_drop transport on real files: every encoding read back exactly, the checksum
ledger (exactly once, renamed copies, changed files), malformed files named by file and
row, schema drift, streaming, and where each row came from."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from connectors.base import ConnectorError, Window
from connectors.file_drop import MalformedFile
from connectors.registry import build_connector
from connectors.state import DatasetState
from registries.business.drop import NEW_HEADERS, DropFileSpec, csv_bytes, write_atomically
from registries.business.encoders import tcvn3_bytes
from registries.business.generator import COLUMNS
from tests.business.conftest import run_extract, spec_for

EXPECTED_ENCODINGS = {"01": ("utf-8-sig", None), "02": ("utf-8", None), "03": ("tcvn3", None),
                      "04": ("vni", None), "05": ("cp1258", None), "06": ("utf-8", "tcvn3")}


def _expected(drop) -> list[tuple]:
    out = []
    for spec in drop.specs:
        legacy = spec.encoding not in ("utf-8-sig", "xlsx")
        for r in spec.records:
            values = [r[c] for c in COLUMNS]
            out.append(tuple(unicodedata.normalize("NFC", v) if legacy and v else v
                             for v in values) + (spec.name,))
    return sorted(out)


def test_every_file_is_read_back_exactly_in_its_own_encoding(drop):
    ex = run_extract(spec_for(drop.files[0].parent))
    got = sorted(tuple(r[c] for c in COLUMNS) + (r["_source_file"],) for r in ex.rows)
    assert got == _expected(drop)
    assert len(ex.files) == 6
    for name, report in ex.files.items():
        encoding, repaired = EXPECTED_ENCODINGS[name.split("_")[-1][:2]]
        assert report["encoding"] == encoding, name
        assert report.get("repaired_from") == repaired, name
        assert report["missing_columns"] == [] and report["extra_columns"] == []
    assert ex.files["dkkd_20261101_03.csv"]["delimiter"] == ";"
    assert ex.files["dkkd_20261101_02.xlsx"]["header_row"] == {"DKKD": 3}
    assert "DANH SÁCH" in ex.files["dkkd_20261101_06.xlsx"]["rows_above_header"][0]
    assert ex.connector.drift.as_dict() == {"extra_columns": [], "missing_columns": []}


def test_source_file_and_row_point_at_the_record(drop):
    ex = run_extract(spec_for(drop.files[0].parent))
    folder = drop.files[0].parent
    for row in ex.rows:
        name, number = row["_source_file"], int(row["_source_row"])
        if name.endswith(".xlsx"):
            sheet = openpyxl.load_workbook(folder / name, read_only=True)[row["_source_sheet"]]
            cell = next(sheet.iter_rows(min_row=number, max_row=number, values_only=True))[0]
            assert cell == row["enterprise_code"]
        else:
            line = (folder / name).read_bytes().split(b"\r\n")[number - 1]
            assert row["enterprise_code"].encode() in line


def test_ledger_reads_each_file_once_whatever_its_name(drop):
    folder = drop.files[0].parent
    spec = spec_for(folder)
    first = run_extract(spec)
    assert len(first.rows) == len(drop.records)
    again = run_extract(spec, first.state)
    assert again.rows == [] and again.skipped == {}
    assert again.connector.describe()["already_ingested"] == 6

    shutil.copy(folder / "dkkd_20261101_01.csv", folder / "dkkd_20261101_01 (copy).csv")
    (folder / "dkkd_20261101_03.csv").rename(folder / "old_system_export.csv")
    renamed = run_extract(spec, first.state)
    assert renamed.rows == []
    assert "same content as 'dkkd_20261101_01.csv'" in renamed.skipped["dkkd_20261101_01 (copy).csv"]
    assert "same content as 'dkkd_20261101_03.csv'" in renamed.skipped["old_system_export.csv"]

    # A changed file under an old name has a new checksum: read again, alone.
    changed = drop.specs[0]
    changed.records = changed.records[:3]
    write_atomically(folder, changed.name, csv_bytes(changed))
    third = run_extract(spec, renamed.state)
    assert [r["_source_file"] for r in third.rows] == [changed.name] * 3
    assert len(third.state.extra["file_drop"]["ingested"]) == 7


def test_identical_files_in_one_drop_are_read_once_and_trust_mtime_can_be_off(drop):
    folder = drop.files[0].parent
    shutil.copy(folder / "dkkd_20261101_04.csv", folder / "zz_resent.csv")
    ex = run_extract(spec_for(folder, trust_mtime=False))
    assert len(ex.rows) == len(drop.records)
    assert ex.skipped["zz_resent.csv"] == "same content as 'dkkd_20261101_04.csv' in this drop"
    again = run_extract(spec_for(folder, trust_mtime=False), ex.state)
    assert again.rows == []


def test_utf16_tab_separated_export_is_read(tmp_path):
    """Excel's "Unicode text": UTF-16 with a BOM, tab-separated."""
    record = {c: f"{c}-1" for c in COLUMNS} | {"name": "Công ty TNHH Thủy sản Đất Mũi"}
    text = "\t".join(NEW_HEADERS) + "\r\n" + "\t".join(record[c] for c in COLUMNS) + "\r\n"
    folder = tmp_path / "u16"
    _write(folder, "unicode.csv", text.encode("utf-16"))
    ex = run_extract(spec_for(folder))
    assert [r["name"] for r in ex.rows] == ["Công ty TNHH Thủy sản Đất Mũi"]
    assert (ex.files["unicode.csv"]["encoding"], ex.files["unicode.csv"]["delimiter"]) == (
        "utf-16", "\t")


def test_batches_stream_in_the_configured_size(drop):
    ex = run_extract(spec_for(drop.files[0].parent, batch_rows=4))
    assert max(b.num_rows for b in ex.batches) <= 4
    assert sum(b.num_rows for b in ex.batches) == len(drop.records)


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def _csv(records: int = 3, encoding: str = "utf-8", headers=NEW_HEADERS) -> bytes:
    rows = [{c: f"{c}-{i}" for c in COLUMNS} for i in range(records)]
    return csv_bytes(DropFileSpec(name="x.csv", encoding=encoding, headers=headers, records=rows))


MALFORMED = [
    ("ragged.csv", _csv().replace(b"enterprise_code-1,", b""), "ragged.csv: row 3: 11 fields, "
     "the header (row 1) has 12"),
    ("quoting.csv", _csv().replace(b"name-2", b'"name"-2'), "quoting.csv: row 4: bad CSV"),
    ("truncated.csv", _csv() + b'2001,"unterminated\r\n', "truncated.csv: row 5: bad CSV: "
     "unexpected end of data (unterminated quoted field: file truncated?)"),
    ("cut.csv", _csv() + ",".join(["2001", *(f"v{i}" for i in range(10)),
                                   "2026-04-27T07:5"]).encode(),
     "cut.csv: row 5: the last line has no line terminator while the lines before it have one: "
     "the file looks truncated"),
    ("cut_tcvn3.csv", _csv(encoding="tcvn3") + tcvn3_bytes("2001,Công ty Thủy sản,v"),
     "cut_tcvn3.csv: row 5: the last line has no line terminator"),
    ("cut16.csv", (("\t".join(NEW_HEADERS) + "\r\n" + "\t".join(COLUMNS) + "\r\n" + "x\ty")
                   .encode("utf-16")), "cut16.csv: row 3: the last line has no line terminator"),
    ("bom.csv", _csv(encoding="utf-8-sig").replace(b"name-1", b"name-\xff1"), "bom.csv: row 3: "
     "starts with a UTF-8 byte-order mark but bytes b'\\xff' at position 36 are not valid UTF-8"),
    ("garbage.csv", _csv().replace(b"name-2", "Công ty Thủy sản Nguyễn".encode() + b"\xe1\xbb"),
     "garbage.csv: row 4: undecodable text: bytes b'\\xe1\\xbb' at position 61 are not UTF-8, and no "
     "Vietnamese encoding recognised with confidence"),
    ("cp1258.csv", _csv(encoding="cp1258").replace(b"name-1", b"name\x81-1"),
     "cp1258.csv: row 3: byte 0x81 at position"),
    ("noheader.csv", b"a,b,c\r\n1,2,3\r\n", "noheader.csv: rows 1-10: no header row found"),
]


@pytest.mark.parametrize(("name", "data", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_fails_the_extract_naming_file_and_row(tmp_path, drop, name, data,
                                                              message):
    folder = drop.files[0].parent
    _write(folder, name, data)
    with pytest.raises(MalformedFile) as err:
        run_extract(spec_for(folder))
    assert message in str(err.value)


def test_truncated_or_bad_xlsx_is_rejected_by_name(drop):
    folder = drop.files[0].parent
    data = (folder / "dkkd_20261101_02.xlsx").read_bytes()
    _write(folder, "cut.xlsx", data[: len(data) // 2])
    with pytest.raises(MalformedFile, match=r"cut.xlsx: not a readable XLSX workbook \(BadZipFile"):
        run_extract(spec_for(folder))


def test_xlsx_value_outside_the_header_names_the_row_and_notes_sheets_are_reported(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "DKKD"
    sheet.append(list(NEW_HEADERS))
    sheet.append([f"v{i}" for i in range(12)])
    notes = book.create_sheet("Ghi chú")
    notes.append(["Tệp xuất từ hệ thống đăng ký kinh doanh"])
    folder = tmp_path / "x"
    folder.mkdir()
    book.save(folder / "ok.xlsx")
    ex = run_extract(spec_for(folder))
    assert len(ex.rows) == 1
    assert ex.files["ok.xlsx"]["skipped_sheets"][0]["sheet"] == "Ghi chú"
    sheet.append([f"w{i}" for i in range(12)] + [None, "lost?"])
    book.save(folder / "bad.xlsx")
    with pytest.raises(MalformedFile, match="bad.xlsx: sheet 'DKKD' row 3: cell in column 14 has "
                                            "a value but the header"):
        run_extract(spec_for(folder))


def test_extra_column_is_kept_and_missing_optional_column_reported(tmp_path):
    headers = [*NEW_HEADERS, "Số điện thoại"]
    rows = [{**{c: f"{c}-{i}" for c in COLUMNS}, "phone": f"0290{i:06d}"} for i in range(2)]
    text = ",".join(headers) + "\r\n" + "".join(
        ",".join([*(r[c] for c in COLUMNS), r["phone"]]) + "\r\n" for r in rows)
    folder = tmp_path / "drift"
    _write(folder, "a.csv", text.encode("utf-8"))
    no_sector = [h for h in NEW_HEADERS if h != "Mã ngành kinh tế chính"]
    keep = [c for c in COLUMNS if c != "sector_code"]
    _write(folder, "b.csv", (",".join(no_sector) + "\r\n" + ",".join(keep) + "\r\n").encode())
    ex = run_extract(spec_for(folder))
    assert [r["Số điện thoại"] for r in ex.rows if r["_source_file"] == "a.csv"] == [
        "0290000000", "0290000001"]
    assert ex.connector.drift.as_dict() == {"extra_columns": ["Số điện thoại"],
                                            "missing_columns": ["sector_code"]}
    assert ex.files["a.csv"]["extra_columns"] == ["Số điện thoại"]
    assert ex.files["b.csv"]["missing_columns"] == ["sector_code"]


def test_required_column_missing_from_one_file_of_the_drop_fails_naming_it(drop):
    folder = drop.files[0].parent
    headers = [h if h != "Số định danh chủ sở hữu" else "Ghi chú" for h in NEW_HEADERS]
    _write(folder, "late.csv", _csv(headers=headers))
    with pytest.raises(ConnectorError, match="late.csv: required column 'owner_personal_id' is "
                                             "missing .* while the other files of this drop"):
        run_extract(spec_for(folder))


def test_missing_folder_and_failed_run_leave_no_pending_state(tmp_path, drop):
    with pytest.raises(ConnectorError, match="drop folder .* does not exist"):
        run_extract(spec_for(tmp_path / "nowhere"))
    folder = drop.files[0].parent
    _write(folder, "zz_ragged.csv", _csv().replace(b"enterprise_code-2,", b""))
    connector = build_connector(spec_for(folder))
    with pytest.raises(MalformedFile):
        list(connector.extract(Window(None, datetime.now(UTC)), DatasetState(watermark=None)))
    assert connector.pending_state() == {}


# --- encodings of whole files, written by real encoders ------------------------------------


def _csv_text(headers, records) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([r[c] or "" for c in COLUMNS] for r in records)
    return buffer.getvalue()


def _iconv(text: str, target: str) -> bytes:
    return subprocess.run(["iconv", "-f", "UTF-8", "-t", target], input=text.encode(),
                          capture_output=True, check=True).stdout


def test_nfd_utf8_file_with_punctuation_is_read_as_utf8_not_repaired(tmp_path):
    """Before: decomposed UTF-8 scored as non-Vietnamese, so the file was "repaired" from
    TCVN3 and its curly quotes, dashes, ellipsis and superscripts became letters."""
    names = ["Công Ty “Thủy Sản Nguyễn Văn” — Ấp Chợ…", "Hộ Kinh Doanh ‘Đặng Bùi’ – 25 m²",
             "Doanh Nghiệp Tư Nhân Hưng Thịnh «Cà Mau»", "Chi Nhánh Đất Mũi • Ngọc Hiển"]
    records = [{c: f"{c}-{i}" for c in COLUMNS} | {"name": n, "address": f"Số {i}, Đường Lê Lợi"}
               for i, n in enumerate(names)]
    folder = tmp_path / "nfd"
    text = _csv_text(COLUMNS, records)
    _write(folder, "nfd.csv", unicodedata.normalize("NFD", text).encode("utf-8"))
    ex = run_extract(spec_for(folder))
    report = ex.files["nfd.csv"]
    assert (report["encoding"], report.get("repaired_from")) == ("utf-8", None)
    assert [unicodedata.normalize("NFC", r["name"]) for r in ex.rows] == names


def test_viscii_file_is_read_in_its_own_encoding(drop, tmp_path):
    """Before: VISCII was taken for TCVN3 with a passing score and read as nonsense."""
    old = next(s for s in drop.specs if s.encoding == "tcvn3")
    folder = tmp_path / "viscii"
    _write(folder, "old_system.csv", _iconv(_csv_text(old.headers, old.records), "VISCII"))
    ex = run_extract(spec_for(folder))
    assert ex.files["old_system.csv"]["encoding"] == "viscii"
    got = [(r["name"], r["address"]) for r in ex.rows]
    assert got == [(unicodedata.normalize("NFC", r["name"]),
                    unicodedata.normalize("NFC", r["address"] or "") or None) for r in old.records]


def test_a_file_whose_encoding_is_not_recognised_with_confidence_fails_naming_candidates(tmp_path):
    """Two names that read as Vietnamese in TCVN3 and in VISCII alike: not guessed."""
    records = [{c: f"{c}-{i}" for c in COLUMNS} | {"name": n}
               for i, n in enumerate(["Lê Thủy", "Hà Tâm"])]
    folder = tmp_path / "short"
    _write(folder, "short.csv", _iconv(_csv_text(COLUMNS, records), "TCVN5712-1"))
    with pytest.raises(MalformedFile) as err:
        run_extract(spec_for(folder))
    message = str(err.value)
    assert message.startswith("short.csv: row 2: ")
    assert "no Vietnamese encoding recognised with confidence" in message
    for name in ("tcvn3", "viscii", "vni", "cp1258"):
        assert re.search(rf"{name} \d+% of \d+ words", message), message
    assert "less than the 10% needed to tell them apart" in message
