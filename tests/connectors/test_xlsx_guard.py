"""The XLSX guard reads a workbook's declared sizes and its sheets' XML before openpyxl does:
rows and columns named beyond the limits, members that expand too much, formula cells."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from catalog.spec import Limits
from connectors.limits import LimitExceeded
from connectors.xlsx_guard import check_workbook, column_number
from tests.connectors import hostile_sources as hs


def test_formula_cells_are_counted(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "name"])
    ws.append(["R1", "=cmd|' /C calc'!A0"])
    ws.append(["R2", "='[other.xlsx]Sheet1'!A1"])
    ws.append(["R3", "plain"])
    wb.save(tmp_path / "f.xlsx")
    assert check_workbook(tmp_path / "f.xlsx", "f.xlsx", Limits()).formula_cells == 2


def test_rows_and_columns_beyond_the_limits_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = hs.write(tmp_path / "far.xlsx", hs.xlsx_far_row())
    with pytest.raises(LimitExceeded, match=r"far.xlsx: sheet sheet1.xml names row "
                                            r"1,000,000,000,000, beyond source.limits.xlsx_max_rows"):
        check_workbook(path, "far.xlsx", Limits())
    normal = hs.write(tmp_path / "ok.xlsx", hs.xlsx_bytes(rows=5))
    assert check_workbook(normal, "ok.xlsx", Limits()).max_row == 6
    with pytest.raises(LimitExceeded, match="xlsx_max_columns"):
        check_workbook(normal, "ok.xlsx", Limits(xlsx_max_columns=2))
    with pytest.raises(LimitExceeded, match="xlsx_max_rows"):
        check_workbook(normal, "ok.xlsx", Limits(xlsx_max_rows=5))


def test_a_member_that_expands_too_much_or_too_far_is_refused(tmp_path: Path) -> None:
    path = hs.write(tmp_path / "bomb.xlsx", hs.xlsx_bomb())
    with pytest.raises(LimitExceeded, match="xlsx_max_compression_ratio"):
        check_workbook(path, "bomb.xlsx", Limits())
    with pytest.raises(LimitExceeded, match="xlsx_max_uncompressed_bytes"):
        check_workbook(path, "bomb.xlsx", Limits(xlsx_max_uncompressed_bytes=1 << 20))


@pytest.mark.parametrize("letters, number", [(b"A", 1), (b"Z", 26), (b"AA", 27), (b"XFD", 16384)])
def test_column_letters(letters: bytes, number: int) -> None:
    assert column_number(letters) == number
