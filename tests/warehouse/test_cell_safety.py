"""Formula injection: one escaping rule for CSV and XLSX exports, and the quality rule that
flags the same values (OWASP CSV-injection guidance: = + - @ tab CR)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import openpyxl
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.spec import Check, get_spec
from expectations.rules import RuleContext, compile_checks
from expectations.rules_cells import no_formula
from tests.rule_eval import rejects
from warehouse.cell_safety import escape_formula, looks_like_formula

OWASP_FIRST = {"=", "+", "-", "@", "\t", "\r"}
ATTACKS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1",
           "=HYPERLINK(\"http://x\",\"y\")", "='file:///etc/passwd'#$A1"]

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(text)
def test_escaped_text_never_starts_like_a_formula_and_keeps_every_character(value: str) -> None:
    out = escape_formula(value)
    assert out is not None
    assert out[:1] not in OWASP_FIRST
    if value[:1] in OWASP_FIRST:
        assert out == "'" + value
    else:
        assert out == value


CON = duckdb.connect()
CHECK = no_formula(Check(rule="no_formula", column="name", severity="warn"),
                   RuleContext(spec=get_spec("business_registry"), communes_parquet=Path()))[0]


@settings(deadline=None)
@given(st.one_of(text, st.sampled_from(ATTACKS)))
def test_the_quality_rule_flags_exactly_what_exports_escape(value: str) -> None:
    assert rejects(CON, CHECK, {"name": value}) == (value[:1] in OWASP_FIRST)
    assert looks_like_formula(value) == (value[:1] in OWASP_FIRST)


def test_null_is_neither_flagged_nor_escaped() -> None:
    check = no_formula(Check(rule="no_formula", column="name"),
                       RuleContext(spec=get_spec("business_registry"), communes_parquet=Path()))[0]
    assert not rejects(duckdb.connect(), check, {"name": None})
    assert escape_formula(None) is None


def test_an_xlsx_written_with_escaped_cells_holds_no_formula(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    for value in ATTACKS:
        ws.append([escape_formula(value)])
    path = tmp_path / "open.xlsx"
    wb.save(path)
    back = openpyxl.load_workbook(path)  # not data_only: a formula would come back as one
    cells = [row[0] for row in back.active.iter_rows()]
    assert [c.data_type for c in cells] == ["s"] * len(ATTACKS)
    # (XML stores a carriage return as a line feed; the apostrophe is what matters.)
    assert [c.value for c in cells] == ["'" + v.replace("\r", "\n") for v in ATTACKS]


def test_a_csv_written_with_escaped_cells_starts_no_field_like_a_formula() -> None:
    out = io.StringIO()
    csv.writer(out).writerows([[escape_formula(v)] for v in ATTACKS])
    fields = [row[0] for row in csv.reader(io.StringIO(out.getvalue()))]
    assert all(f[0] == "'" for f in fields)
    assert [f[1:] for f in fields] == ATTACKS


def test_the_business_spec_flags_formulas_in_its_text_columns_as_warnings() -> None:
    spec = get_spec("business_registry")
    checks = [c for c in compile_checks(spec, Path("unused.parquet")) if c.rule == "no_formula"]
    assert sorted(c.columns[0] for c in checks) == ["address", "name"]
    assert {c.severity for c in checks} == {"warn"}
