"""The XLSX writer (DuckDB renders the sheet rows): any text survives a round trip through
openpyxl (XML-special characters, line breaks, OOXML escape look-alikes, Vietnamese),
except the control characters XML cannot carry, which are dropped; formula triggers are
neutralised; nulls stay empty in their own column; typed values keep their types; rows past
the sheet limit continue on a second sheet with the header."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.utils.escape import unescape

from opendata import xlsx_stream
from warehouse.cell_safety import escape_formula

XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _write(tmp: Path, rows: list[tuple], ddl: str) -> list[tuple]:  # type: ignore[type-arg]
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({ddl})")
    marks = ", ".join("?" for _ in ddl.split(","))
    con.executemany(f"INSERT INTO t VALUES ({marks})", rows)
    src, out = tmp / "src.parquet", tmp / "out.xlsx"
    con.execute(f"COPY t TO '{src}' (FORMAT parquet)")
    cols = [(r[0], str(r[1])) for r in con.execute("DESCRIBE t").fetchall()]
    xlsx_stream.write_xlsx(con, src, out, cols)
    book = openpyxl.load_workbook(out)
    # Text as Excel reads it: OOXML character escapes (_xHHHH_, ECMA-376 ST_Xstring) decoded.
    return [tuple(unescape(v) if isinstance(v, str) else v for v in r)
            for ws in book.worksheets for r in ws.iter_rows(values_only=True)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30),
                min_size=1, max_size=20))
def test_any_text_round_trips(tmp_path: Path, values: list[str]) -> None:
    got = _write(tmp_path, [(i, v) for i, v in enumerate(values)], "i INTEGER, v VARCHAR")
    assert got[0] == ("i", "v")
    for (i, v), (gi, gv) in zip(enumerate(values), got[1:], strict=True):
        want = XML_UNSAFE.sub("", escape_formula(v))
        assert gi == i
        assert (gv or "") == want, (v, gv)


def test_types_nulls_and_known_payloads(tmp_path: Path) -> None:
    rows = [(1, "=1+1", None, 2.5, date(2026, 1, 31), datetime(2026, 2, 1, 10, 24, 2), True),
            (2, None, 7, None, None, None, None),
            (3, "a & b <c> _x0041_ đường", 0, -1.0, date(1900, 3, 1),
             datetime(1999, 12, 31, 23, 59, 59), False)]
    got = _write(tmp_path, rows, "n INTEGER, s VARCHAR, k BIGINT, x DOUBLE, d DATE, t TIMESTAMP, b BOOLEAN")
    assert got[1] == (1, "'=1+1", None, 2.5, datetime(2026, 1, 31), datetime(2026, 2, 1, 10, 24, 2), True)
    assert got[2] == (2, None, 7, None, None, None, None)
    assert got[3] == (3, "a & b <c> _x0041_ đường", 0, -1.0, datetime(1900, 3, 1),
                      datetime(1999, 12, 31, 23, 59, 59), False)


def test_rows_past_the_limit_continue_on_another_sheet(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_stream, "XLSX_MAX_ROWS", 4)  # header + 3 rows per sheet
    got = _write(tmp_path, [(i, f"r{i}") for i in range(8)], "i INTEGER, v VARCHAR")
    book = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert book.sheetnames == ["data", "data2", "data3"]
    assert [r for r in got if r != ("i", "v")] == [(i, f"r{i}") for i in range(8)]
    assert sum(r == ("i", "v") for r in got) == 3
