"""Business rules: the enterprise-code SQL agrees with python-stdnum, and every defect of a
business record is quarantined with a reason that names the field and the value."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.vn import mst

from catalog.spec import Check, get_spec
from expectations.gate import run_gate
from expectations.rules import RuleContext
from expectations.rules_business import enterprise_code, mst_valid_sql
from tests.gx_agreement import assert_gx_agrees_with_split

SPEC = get_spec("business_registry")
CANONICAL = re.compile(r"[0-9]{10}(-[0-9]{3})?")

digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


@st.composite
def codes(draw: st.DrawFn) -> str:
    """Canonical codes, half with the right check digit, some with a branch number, and
    edge cases (digits 3-9 all zero, branch 000, r = 0)."""
    body = draw(st.one_of(digits, digits.map(lambda d: d[:2] + "0000000")))
    check = mst.calc_check_digit(body)
    last = check if len(check) == 1 and draw(st.booleans()) else draw(st.sampled_from("0123456789"))
    code = body + last
    if draw(st.booleans()):
        code += "-" + draw(st.sampled_from(["000", "001", "999", f"{draw(st.integers(0, 999)):03d}"]))
    return code


anything = st.one_of(
    codes(),
    st.text(alphabet="0123456789 -.", max_size=16),
    codes().map(lambda c: c.replace("-", "")),  # stdnum accepts; not canonical
    codes().map(lambda c: f"{c[:2]}.{c[2:]}"),
    st.text(max_size=14),
)


_CHECKS = enterprise_code(Check(rule="enterprise_code", column="enterprise_code"),
                          RuleContext(spec=SPEC, communes_parquet=Path("unused")))
_QUERY = (f"SELECT enterprise_code, {' OR '.join(f'coalesce({c.bad_when}, false)' for c in _CHECKS)}, "
          f"{mst_valid_sql('enterprise_code')} FROM t")
_CON = duckdb.connect()


def _flagged(values: list[str]) -> dict[str, bool]:
    """Whether any check of the enterprise_code rule rejects each value."""
    _CON.register("t", pa.table({"enterprise_code": pa.array(values, pa.string())}))
    rows = _CON.execute(_QUERY).fetchall()
    for _, flagged, valid in rows:
        assert flagged is (not valid)  # the split into reasons covers exactly the invalid codes
    return {value: flagged for value, flagged, _ in rows}


@settings(max_examples=100, deadline=None)
@given(st.lists(codes(), min_size=1, max_size=100))
def test_sql_check_digit_equals_stdnum_on_canonical_codes(values):
    flagged = _flagged(values)
    for value in values:
        assert flagged[value] is (not mst.is_valid(value)), value


@settings(max_examples=100, deadline=None)
@given(st.lists(anything, min_size=1, max_size=100))
def test_sql_accepts_exactly_the_canonical_codes_stdnum_accepts(values):
    flagged = _flagged(values)
    for value in values:
        expected_ok = bool(CANONICAL.fullmatch(value)) and mst.is_valid(value)
        assert flagged[value] is (not expected_ok), value


def test_documented_codes():
    flagged = _flagged(["0100233488", "0314409058-002", "0100233480", "0314409058-000",
                        "0100000000", "0314409058002"])
    assert flagged == {"0100233488": False, "0314409058-002": False, "0100233480": True,
                       "0314409058-000": True, "0100000000": True, "0314409058002": True}


GOOD = {
    "enterprise_code": "2058654677",
    "unit_type": "doanh nghiệp",
    "name": "Công ty cổ phần Nông nghiệp Ấp Chợ",
    "legal_form": "cổ phần",
    "status_code": "00",
    "address": "Số 102, đường Nguyễn Trãi, Xã Thanh Tùng",
    "commune_code": "32185",
    "commune_code_era": "2025",
    "owner_personal_id": "096181060426",
    "sector_code": "0111",
    "registered_date": "2012-10-07",
    "updated_at": "2024-03-02T11:28:42+07:00",
}
_serial = iter(range(1, 10_000))


def unit(**changes: str | None) -> dict[str, str | None]:
    """GOOD under its own valid code (unless the case sets one)."""
    body = f"20{5_000_000 + next(_serial) * 7:07d}"
    while len(mst.calc_check_digit(body)) != 1:
        body = f"20{int(body[2:]) + 1:07d}"
    return {**GOOD, "enterprise_code": body + mst.calc_check_digit(body), **changes}


def _no_check_digit() -> str:
    """Nine digits whose weighted sum is a multiple of 11: stdnum's check digit is "10"."""
    return next(body for n in range(1, 10_000) if len(mst.calc_check_digit(body := f"20{n:07d}")) == 2)


CASES = [
    ("check_digit", unit(enterprise_code="2058654670"), "has check digit 0, expected 7"),
    ("no_check_digit", unit(enterprise_code=_no_check_digit() + "0"), "no check digit fits"),
    ("zero_sequence", unit(enterprise_code="2000000000"), "digits 3-9 all zero"),
    ("dots", unit(enterprise_code="20.58654677"), "is not a tax code"),
    ("branch_000", unit(enterprise_code="2058654677-000", unit_type="chi nhánh"),
     "branch number 000"),
    ("branch_as_enterprise", unit(enterprise_code="2058654677-002"), "is a branch code but"),
    ("enterprise_as_branch", unit(unit_type="chi nhánh"), "has no branch number but"),
    ("unit_type", unit(unit_type="văn phòng"), "is not one of doanh nghiệp, chi nhánh"),
    ("status", unit(status_code="09"), "status_code: '09' is not a tax status code"),
    ("status_number", unit(status_code="5"), "status_code: '5' is not a tax status code"),
    ("legal_form", unit(legal_form="CTCP"), "legal_form: 'CTCP' is not a legal form"),
    ("sector_format", unit(sector_code="011"), "is not a level-4 VSIC code"),
    ("sector_division", unit(sector_code="0411"), "starts with 04, not a VSIC division"),
    ("date_impossible", unit(registered_date="2023-02-30"), "is not a valid date"),
    ("date_future", unit(registered_date="2099-01-01"), "outside 1990-01-01 .. today"),
    ("name_tcvn3", unit(name="C«ng ty cæ phÇn Thñy s¶n"), "outside Vietnamese text: «æÇñ¶"),
    ("name_vni", unit(name="Nguyeãn Vaên"), "not Vietnamese syllables"),
    ("address_tcvn3", unit(address="Sè 102, ®êng NguyÔn Tr·i"), "address: 'Sè 102"),
    ("owner_format", unit(owner_personal_id="12345"), "is not 12 digits"),
    ("commune", unit(commune_code="99999"), "not an official commune code"),
    ("missing_owner", unit(owner_personal_id=None), "owner_personal_id: missing value"),
]


@pytest.mark.parametrize(("label", "row", "reason"), CASES, ids=[c[0] for c in CASES])
def test_defect_is_quarantined_with_reason(label, row, reason, settings, raw_run_factory):
    gate = run_gate(SPEC, raw_run_factory(SPEC, [GOOD, row]), settings, use_gx=False)
    assert (gate.curated_rows, gate.quarantined_rows) == (1, 1), label
    reasons = duckdb.sql(
        f"SELECT _reasons FROM read_parquet('{gate.staging_dir}/quarantine.parquet')").fetchall()
    assert reason in reasons[0][0]


def test_clean_variants_pass_and_gx_agrees(settings, raw_run_factory):
    nfd = unicodedata.normalize("NFD", "Công ty TNHH Thủy sản Đất Mũi")
    rows = [GOOD,
            unit(enterprise_code="2058654677-001", unit_type="chi nhánh",
                 name="Chi nhánh Công ty cổ phần Nông nghiệp Ấp Chợ tại Năm Căn"),
            unit(name=nfd, legal_form=unicodedata.normalize("NFD", "TNHH một thành viên")),
            unit(name="Công ty TNHH Seafood ABC (Việt-Nhật) & Co.", status_code="07",
                 commune_code="31999", commune_code_era="2004"),
            dict(GOOD, updated_at="2025-01-01T00:00:00+07:00")]  # same code again: warn only
    rows += [row for _, row, _ in CASES]
    gate = run_gate(SPEC, raw_run_factory(SPEC, rows), settings, use_gx=True, keep_gx_result=False)
    assert gate.curated_rows == 5
    assert gate.quarantined_rows == len(CASES)
    assert gate.normalised_values == 2
    assert_gx_agrees_with_split(gate)
    unique = next(c for c in gate.checks if c.rule == "unique")
    assert (unique.severity, unique.failed_rows) == ("warn", 1)
