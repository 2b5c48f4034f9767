"""The land rules: DuckDB's verdict equals a plain Python statement of the land-use code list
by version, the parcel identity, the certificate serial and the positive area (property
tests); each defect lands in quarantine with a reason naming the field and the value; the
cross-registry holder checks report (warn) and reject nothing."""

from __future__ import annotations

import re

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.spec import Check, get_spec
from expectations.gate import run_gate
from expectations.reference import ensure_reference
from expectations.rules import RULES, RuleContext, compile_checks
from tests.land.land_use_codes import CODES, ONLY_2018, ONLY_2024
from tests.rule_eval import rejects as _bad


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    ref = ensure_reference(tmp_path_factory.mktemp("ref"))
    return {c.name: c for dataset in ("land_parcels", "land_certificates")
            for c in compile_checks(get_spec(dataset), ref)}


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


ALL_CODES = sorted(CODES["2024"] | CODES["2018"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(ALL_CODES), st.sampled_from(["XYZ", "ONTT", "luc", "", "LU C"])),
       st.sampled_from(["2024", "2018"]))
def test_land_use_code_is_in_the_list_of_its_version(checks, con, code, version):
    bad = _bad(con, checks["land_use_code:land_use_code:code"],
               {"land_use_code": code, "land_use_code_list": version})
    assert bad == (code not in CODES[version]), (code, version)


def test_codes_of_one_version_only_are_refused_in_the_other(checks, con):
    """CNT (concentrated livestock) is new in 2024; LUN, BHK, NHK, OTC are 2018 codes only."""
    for version, codes in (("2018", ONLY_2024), ("2024", ONLY_2018)):
        for code in sorted(codes):
            assert _bad(con, checks["land_use_code:land_use_code:code"],
                        {"land_use_code": code, "land_use_code_list": version}), (code, version)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ALL_CODES), st.text(alphabet="0128 ", max_size=5))
def test_land_use_code_list_must_be_a_known_version(checks, con, code, version):
    bad = _bad(con, checks["land_use_code:land_use_code:version"],
               {"land_use_code": code, "land_use_code_list": version})
    assert bad == (version not in CODES), version


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.from_regex(r"[A-Z]{2}[0-9]{8}", fullmatch=True),
                 st.text(alphabet="ABCSa0123456789 -", max_size=12)))
def test_certificate_serial_is_two_capitals_and_eight_digits(checks, con, serial):
    bad = _bad(con, checks["certificate_serial:certificate_serial:format"],
               {"certificate_serial": serial})
    assert bad == (re.fullmatch(r"[A-Z]{2}[0-9]{8}", serial) is None), serial


numbers = st.one_of(st.integers(-3, 400).map(str), st.sampled_from(["", "1.5", "x", "007"]))


@settings(max_examples=300, deadline=None)
@given(numbers, numbers, st.booleans(), st.sampled_from(["", "A", "-0"]))
def test_parcel_id_is_commune_sheet_number(checks, con, sheet, number, matching, suffix):
    def positive(text: str) -> bool:
        return re.fullmatch(r"[0-9]+", text.strip()) is not None and int(text) > 0

    pid = f"32185-{sheet}-{number}" if matching else f"32185-{sheet}-{number}{suffix}"
    row = {"parcel_id": pid, "commune_code": "32185", "map_sheet": sheet, "parcel_number": number}
    both = positive(sheet) and positive(number)
    assert _bad(con, checks["parcel_identity:parcel_id:numbers"], row) == (not both), row
    canonical = f"32185-{int(sheet) if both else ''}-{int(number) if both else ''}"
    assert _bad(con, checks["parcel_identity:parcel_id:parts"], row) == (both and pid != canonical), row


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.floats(-1e6, 1e6, allow_nan=False).map(repr), st.just("0"), st.just("abc")))
def test_area_must_be_greater_than_zero(checks, con, area):
    try:
        value: float | None = float(area)
    except ValueError:
        value = None  # not a number: the castable check's business, not this one's
    bad = _bad(con, checks["positive_number:area_m2"], {"area_m2": area})
    assert bad == (value is not None and value <= 0), area


def test_code_lists_are_configurable_per_check(tmp_path):
    ctx = RuleContext(spec=get_spec("land_parcels"), communes_parquet=tmp_path / "unused.parquet")
    check = Check(rule="land_use_code", column="land_use_code", codes={"2030": ["ONT", "XYZ"]})
    by_name = {c.name: c for c in RULES["land_use_code"](check, ctx)}
    code = by_name["land_use_code:land_use_code:code"]
    version = by_name["land_use_code:land_use_code:version"]
    con = duckdb.connect()
    assert not _bad(con, code, {"land_use_code": "XYZ", "land_use_code_list": "2030"})
    assert _bad(con, code, {"land_use_code": "LUC", "land_use_code_list": "2030"})
    assert _bad(con, version, {"land_use_code": "ONT", "land_use_code_list": "2024"})


PARCEL = {
    "parcel_id": "32185-12-345", "commune_code": "32185", "commune_code_era": "2025",
    "legacy_commune_code": None, "map_sheet": "12", "parcel_number": "345",
    "area_m2": "1520.5", "land_use_code": "LUC", "land_use_code_list": "2024",
    "address": "Tờ 12, thửa 345, Xã Tân Thuận", "updated_at": "2026-10-31 08:15:02+00",
}
_number = iter(range(1000, 9999))


def parcel(**changes: str | None) -> dict[str, str | None]:
    number = str(next(_number))
    return {**PARCEL, "parcel_id": f"32185-12-{number}", "parcel_number": number, **changes}


PARCEL_CASES = [
    ("area_zero", parcel(area_m2="0.0"), "area_m2: '0.0' must be greater than zero"),
    ("area_negative", parcel(area_m2="-80.2"), "area_m2: '-80.2' must be greater than zero"),
    ("code_2018_in_2024", parcel(land_use_code="LUN"),
     "land_use_code: 'LUN' is not in the 2024 code list (it belongs to another version)"),
    ("code_unknown", parcel(land_use_code="XYZ"), "land_use_code: 'XYZ' is not a land-use code"),
    ("code_list_unknown", parcel(land_use_code_list="2013"),
     "land_use_code_list: '2013' is not a land-use code list"),
    ("wrong_era_commune", parcel(commune_code="31999"), "wrong era"),
    ("id_mismatch", parcel(parcel_id="32185-12-1A"),
     "parcel_id: '32185-12-1A' does not match commune-sheet-number"),
    ("sheet_zero", parcel(map_sheet="0"), "map_sheet '0', parcel_number"),
]


@pytest.mark.parametrize(("label", "row", "reason"), PARCEL_CASES, ids=[c[0] for c in PARCEL_CASES])
def test_parcel_defect_is_quarantined_with_reason(label, row, reason, settings, raw_run_factory):
    spec = get_spec("land_parcels")
    gate = run_gate(spec, raw_run_factory(spec, [PARCEL, row]), settings, use_gx=False)
    assert (gate.curated_rows, gate.quarantined_rows) == (1, 1), label
    quarantined = pq.read_table(f"{gate.staging_dir}/quarantine.parquet").to_pylist()
    assert reason in quarantined[0]["_reasons"], quarantined[0]["_reasons"]


def test_a_2018_code_is_kept_on_a_2018_record(settings, raw_run_factory):
    spec = get_spec("land_parcels")
    old = parcel(land_use_code="BHK", land_use_code_list="2018", commune_code="31999",
                 commune_code_era="2004", legacy_commune_code="31999")
    old["parcel_id"] = f"31999-12-{old['parcel_number']}"
    gate = run_gate(spec, raw_run_factory(spec, [PARCEL, old]), settings, use_gx=False)
    assert (gate.curated_rows, gate.quarantined_rows) == (2, 0)


CERTIFICATE = {
    "certificate_serial": "CS01234567", "parcel_id": "32185-12-345", "issue_date": "2019-05-20",
    "holder_type": "person", "holder_id": "096085001234", "holder_name": "Nguyễn Văn An",
    "updated_at": "2026-10-31 08:15:02+00",
}
ENTERPRISE = {**CERTIFICATE, "certificate_serial": "CT01234567", "holder_type": "enterprise",
              "holder_id": "2058654677", "holder_name": "Công ty cổ phần Nông nghiệp Ấp Chợ"}


def test_certificate_holders_are_looked_up_in_their_registry(settings, raw_run_factory):
    """Cross-registry (warn): a person holder must be in the population, an enterprise in the
    business registry, the parcel in the parcels; unknown ones are reported, never rejected,
    and a person's ID is never looked up among enterprise codes (nor the reverse)."""
    from tests.business.test_rules_business import GOOD as BUSINESS
    from tests.expectations.test_gate_population import GOOD as PERSON
    from warehouse.publish import publish

    for dataset, rows in (("population", [PERSON]), ("business_registry", [BUSINESS]),
                          ("land_parcels", [PARCEL])):
        spec = get_spec(dataset)
        run = raw_run_factory(spec, rows)
        publish(spec, run, run_gate(spec, run, settings, use_gx=False), settings)

    unknown_person = {**CERTIFICATE, "certificate_serial": "CS07654321",
                      "holder_id": "096085009999", "parcel_id": "32185-1-1"}
    unknown_firm = {**ENTERPRISE, "certificate_serial": "CT07654321", "holder_id": "0100233488"}
    spec = get_spec("land_certificates")
    rows = [CERTIFICATE, ENTERPRISE, unknown_person, unknown_firm]
    gate = run_gate(spec, raw_run_factory(spec, rows), settings, use_gx=True, keep_gx_result=False)
    lookups = sorted((c.description, c.severity, c.failed_rows, c.gx_unexpected)
                     for c in gate.checks if c.rule == "exists_in")
    assert [f[1:] for f in lookups] == [("warn", 1, 1)] * 3, lookups
    assert (gate.curated_rows, gate.quarantined_rows) == (4, 0)
