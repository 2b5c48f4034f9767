"""XLSX written the way DuckDB writes CSV: DuckDB renders each row of the sheet as one line
of SpreadsheetML (inline strings, numbers, date serials with a date style), the lines are
streamed into the zip's sheet part, and a few static parts complete the package (Office
Open XML, ECMA-376). One pass, constant memory, and no Python work per cell.

Text goes through the same formula-injection rule as CSV (`cell_safety`), is XML-escaped,
and loses the control characters XML 1.0 cannot carry (tab, CR and LF are kept as character
references). Rows beyond Excel's limit continue on further sheets with the same header.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb

from warehouse.cell_safety import escape_formula_sql
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

XLSX_MAX_ROWS = 1_048_576  # Excel's sheet limit, header included
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL")
_SEPARATOR = "\x1f"  # never in a rendered line: control characters are removed from text



ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every entry's time in the zip: fixed, so one snapshot always gives the same bytes."""


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    # deflate level 1 (fast; the sheets are most of the bytes), as ZipFile.open sets it on
    # Python 3.11 (the project's pinned version; public `compress_level` from 3.13)
    info._compresslevel = 1  # type: ignore[attr-defined]
    return info


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xml_text_sql(expr: str) -> str:
    """SQL: a VARCHAR made safe inside <t>...</t> on one line."""
    cleaned = f"regexp_replace({expr}, '[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]', '', 'g')"
    # Text that looks like an OOXML character escape (_x0041_) keeps its literal meaning.
    cleaned = f"regexp_replace({cleaned}, '_(x[0-9A-Fa-f]{{4}})_', '_x005F_\\1_', 'g')"
    for char, ref in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        cleaned = f"replace({cleaned}, '{char}', '{ref}')"
    for code, ref in ((9, "&#9;"), (10, "&#10;"), (13, "&#13;")):
        cleaned = f"replace({cleaned}, chr({code}), '{ref}')"
    return cleaned


def _cell_sql(name: str, typ: str, letter: str) -> str:
    c = q(name)
    ref = f"'{letter}' || _r"
    if typ == "VARCHAR":
        value = _xml_text_sql(escape_formula_sql(c))
        body = (f"'<c r=\"' || {ref} || '\" t=\"inlineStr\"><is><t xml:space=\"preserve\">' || "
                f"{value} || '</t></is></c>'")
    elif typ == "BOOLEAN":
        body = f"'<c r=\"' || {ref} || '\" t=\"b\"><v>' || CAST({c} AS INTEGER) || '</v></c>'"
    elif typ == "DATE":
        body = (f"'<c r=\"' || {ref} || '\" s=\"1\"><v>' || "
                f"date_diff('day', DATE '1899-12-30', {c}) || '</v></c>'")
    elif typ.startswith("TIMESTAMP"):
        serial = f"(epoch_us(CAST({c} AS TIMESTAMP)) / 86400000000.0 + 25569)"
        body = f"'<c r=\"' || {ref} || '\" s=\"2\"><v>' || CAST({serial} AS VARCHAR) || '</v></c>'"
    elif typ.startswith(_NUMERIC) or typ.startswith("DECIMAL"):
        body = f"'<c r=\"' || {ref} || '\"><v>' || CAST({c} AS VARCHAR) || '</v></c>'"
    else:
        value = _xml_text_sql(f"CAST({c} AS VARCHAR)")
        body = (f"'<c r=\"' || {ref} || '\" t=\"inlineStr\"><is><t xml:space=\"preserve\">' || "
                f"{value} || '</t></is></c>'")
    return f"coalesce({body}, '')"


_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels"
  ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
  ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/styles.xml"
  ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
{sheets}</Types>"""
_SHEET_TYPE = ('<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
               'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\n')
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1"
  Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
  Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"
  xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets>{sheets}</sheets></workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
{rels}<Relationship Id="rIdStyles"
  Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>"""
_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>
<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/></numFmts>
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>
<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill>
<fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="'
               'http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"


def write_xlsx(con: duckdb.DuckDBPyConnection, source: Path, target: Path,
               columns: list[tuple[str, str]]) -> None:
    names = [n for n, _ in columns]
    rows = int(con.execute(f"SELECT count(*) FROM read_parquet({lit(str(source))})")
               .fetchone()[0])  # type: ignore[index]
    per_sheet = XLSX_MAX_ROWS - 1
    sheets = max(1, -(-rows // per_sheet))
    header = "<row r=\"1\">" + "".join(
        f'<c r="{_column_letters(i)}1" t="inlineStr" s="3"><is><t>{escape(n)}</t></is></c>'
        for i, n in enumerate(names)) + "</row>"
    cells = " || ".join(_cell_sql(n, t, _column_letters(i)) for i, (n, t) in enumerate(columns))
    # The file's own row numbers (no window, so the rows stream), order kept as written.
    con.execute("SET preserve_insertion_order = true")
    numbered = (f"(SELECT *, file_row_number + 1 AS _n FROM read_parquet({lit(str(source))}, "
                f"file_row_number = true))")
    lines = target.with_suffix(".rows.tmp")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(_entry("[Content_Types].xml"), _CONTENT_TYPES.format(
            sheets="".join(_SHEET_TYPE.format(n=i + 1) for i in range(sheets))))
        zf.writestr(_entry("_rels/.rels"), _ROOT_RELS)
        zf.writestr(_entry("xl/workbook.xml"), _WORKBOOK.format(sheets="".join(
            f'<sheet name="{"data" if i == 0 else f"data{i + 1}"}" sheetId="{i + 1}" '
            f'r:id="rId{i + 1}"/>' for i in range(sheets))))
        zf.writestr(_entry("xl/_rels/workbook.xml.rels"), _WORKBOOK_RELS.format(rels="".join(
            f'<Relationship Id="rId{i + 1}" Type="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i + 1}.xml"/>\n'
            for i in range(sheets))))
        zf.writestr(_entry("xl/styles.xml"), _STYLES)
        for s in range(sheets):
            first = s * per_sheet
            con.execute(
                f"COPY (SELECT '<row r=\"' || _r || '\">' || {cells} || '</row>' FROM "
                f"(SELECT *, _n - {first} + 1 AS _r FROM {numbered} "
                f"WHERE _n > {first} AND _n <= {first + per_sheet})) "
                f"TO {lit(str(lines))} (FORMAT csv, HEADER false, DELIMITER '{_SEPARATOR}', "
                f"QUOTE '\x1e', ESCAPE '\x1e', COMMENT '')")
            with zf.open(_entry(f"xl/worksheets/sheet{s + 1}.xml"), "w", force_zip64=True) as out:
                out.write((_SHEET_HEAD + header).encode())
                with lines.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                out.write(_SHEET_TAIL.encode())
            lines.unlink()
