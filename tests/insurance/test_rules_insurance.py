"""The insurance rules: DuckDB's verdict equals a plain Python statement of the card and
BHXH number rules (property tests), and each defect lands in quarantine with a reason that
names the field and the value."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.spec import Check, get_spec
from expectations.gate import run_gate
from expectations.reference import ensure_reference
from expectations.rules import RULES, RuleContext, compile_checks
from tests.insurance.benefit_levels import LEVEL_OF_GROUP
from tests.rule_eval import rejects as _bad

CARD = re.compile(r"[A-Z]{2}[1-5][0-9]{2}[0-9]{10}")
GROUPS = sorted(LEVEL_OF_GROUP)


@pytest.fixture(scope="module")
def spec():
    return get_spec("insurance_members")


@pytest.fixture(scope="module")
def checks(spec, tmp_path_factory):
    ref = ensure_reference(tmp_path_factory.mktemp("ref"))
    return {c.name: c for c in compile_checks(spec, ref)}


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


cards = st.builds(
    lambda g, lv, p, b: f"{g}{lv}{p:02d}{b:010d}",
    st.sampled_from(GROUPS + ["ZZ", "AB"]), st.integers(1, 5), st.integers(0, 99),
    st.integers(0, 10**10 - 1),
)
card_like = st.one_of(
    cards,
    st.text(alphabet="ABDENTZabt0123456789O -", min_size=13, max_size=17),
    cards.map(lambda c: c[:-1]), cards.map(lambda c: c.lower()), cards.map(lambda c: c + "7"),
)


@settings(max_examples=200, deadline=None)
@given(card_like)
def test_card_format_is_the_documented_pattern(checks, con, card):
    bad = _bad(con, checks["health_insurance_card:card_number:format"], {"card_number": card})
    assert bad == (CARD.fullmatch(card) is None), card


@settings(max_examples=200, deadline=None)
@given(cards)
def test_card_level_is_checked_against_the_group_table(checks, con, card):
    bad = _bad(con, checks["card_level_for_group:card_number:level"], {"card_number": card})
    assert bad == (int(card[2]) != LEVEL_OF_GROUP.get(card[:2])), card


@settings(max_examples=200, deadline=None)
@given(cards, st.one_of(st.integers(0, 10**10 - 1).map(lambda n: f"{n:010d}"), st.none()),
       st.booleans())
def test_card_bhxh_part_equals_the_bhxh_number(checks, con, card, bhxh, same):
    if same and bhxh is not None:
        card = card[:5] + bhxh
    row = {"card_number": card, "bhxh_number": bhxh}
    bad = _bad(con, checks["card_matches_bhxh:card_number:bhxh"], row)
    assert bad == (bhxh is not None and card[5:] != bhxh), row


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789 a", max_size=12))
def test_bhxh_number_is_ten_digits(checks, con, number):
    bad = _bad(con, checks["bhxh_number:bhxh_number"], {"bhxh_number": number})
    assert bad == (re.fullmatch(r"[0-9]{10}", number) is None), number


@settings(max_examples=150, deadline=None)
@given(st.dates(date(1990, 1, 1), date(2040, 1, 1)), st.dates(date(1990, 1, 1), date(2040, 1, 1)))
def test_validity_period_must_not_end_before_it_starts(checks, con, start, end):
    row = {"card_valid_from": start.isoformat(), "card_valid_to": end.isoformat()}
    bad = _bad(con, checks["card_validity:card_valid_from+card_valid_to:range"], row)
    assert bad == (end < start), row


GOOD = {
    "bhxh_number": "9612345678",
    "personal_id": "096085001234",
    "full_name": "Nguyễn Văn An",
    "date_of_birth": "1985-03-14",
    "card_number": "DN4969612345678",
    "card_valid_from": "2026-01-01",
    "card_valid_to": "2026-12-31",
    "employer_code": "0100233488",
    "updated_at": "2026-10-31T08:15:02+07:00",
}
_serial = iter(range(10_000_000, 99_999_999))


def member(**changes: str | None) -> dict[str, str | None]:
    """GOOD with its own BHXH number (and matching card) unless the case sets them."""
    bhxh = f"96{next(_serial):08d}"
    return {**GOOD, "bhxh_number": bhxh, "card_number": f"DN496{bhxh}", **changes}


CASES = [
    ("card_lower", member(card_number="dn4969612345678"), "is not a health-insurance card number"),
    ("card_short", member(card_number="DN496961234567"), "is not a health-insurance card number"),
    ("card_level", member(card_number="TE4969612345670", bhxh_number="9612345670"),
     "benefit level 4 is not allowed for group TE (allowed: 1)"),
    ("card_group", member(card_number="ZZ4969612345671", bhxh_number="9612345671"),
     "beneficiary group 'ZZ' is not in the group table"),
    ("card_bhxh", member(card_number="DN4969612345679", bhxh_number="9612345672"),
     "the BHXH part '9612345679' of 'DN4969612345679' differs from bhxh_number '9612345672'"),
    ("validity", member(card_valid_from="2026-06-01", card_valid_to="2025-05-31"),
     "card_valid_to: '2025-05-31' is before card_valid_from '2026-06-01'"),
    ("valid_date", member(card_valid_from="2026-02-30"),
     "card_valid_from: '2026-02-30' is not a valid date"),
    ("bhxh_9", member(bhxh_number="612345678", card_number="DN4960612345678"),
     "bhxh_number: '612345678' is not 10 digits (9 digits: a leading zero lost"),
    ("card_missing", member(card_number=None), "card_number: missing value"),
    ("pid_year", member(personal_id="096090001234"), "do not match date_of_birth"),
]


@pytest.mark.parametrize(("label", "row", "reason"), CASES, ids=[c[0] for c in CASES])
def test_defect_is_quarantined_with_reason(label, row, reason, spec, settings, raw_run_factory):
    run = raw_run_factory(spec, [GOOD, row])
    gate = run_gate(spec, run, settings, use_gx=False)
    assert (gate.curated_rows, gate.quarantined_rows) == (1, 1), label
    quarantined = pq.read_table(f"{gate.staging_dir}/quarantine.parquet").to_pylist()
    assert reason in quarantined[0]["_reasons"], quarantined[0]["_reasons"]


def test_group_table_is_configurable_per_check(spec, tmp_path):
    ctx = RuleContext(spec=spec, communes_parquet=tmp_path / "unused.parquet")
    check = Check(rule="card_level_for_group", column="card_number", groups={"TE": [1, 2]})
    [row_check] = RULES["card_level_for_group"](check, ctx)
    con = duckdb.connect()
    assert not _bad(con, row_check, {"card_number": "TE2969612345678"})
    assert _bad(con, row_check, {"card_number": "DN4969612345678"})  # DN not in this table
    with pytest.raises(ValueError, match="group 'T1' is not two capital letters"):
        RULES["card_level_for_group"](Check(rule="card_level_for_group", column="card_number",
                                            groups={"T1": [1]}), ctx)
    with pytest.raises(ValueError, match="must be digits 1-5"):
        RULES["card_level_for_group"](Check(rule="card_level_for_group", column="card_number",
                                            groups={"TE": [6]}), ctx)


def test_employer_of_an_enterprise_employee_must_be_in_the_business_registry(
        spec, settings, raw_run_factory):
    """Cross-registry (warn): a DN-group member's employer is looked up in the published
    business registry; a public body's employee (group HC) is not, and nothing is rejected."""
    from tests.business.test_rules_business import GOOD as ENTERPRISE
    from warehouse.publish import publish

    business = get_spec("business_registry")
    run = raw_run_factory(business, [ENTERPRISE])
    publish(business, run, run_gate(business, run, settings, use_gx=False), settings)

    known = member(employer_code=ENTERPRISE["enterprise_code"])
    unknown = member(employer_code="0100233488")
    bhxh = f"96{next(_serial):08d}"
    public_body = member(bhxh_number=bhxh, card_number=f"HC496{bhxh}", employer_code="0100233488")
    gate = run_gate(spec, raw_run_factory(spec, [known, unknown, public_body]), settings,
                    use_gx=True, keep_gx_result=False)
    employer = next(c for c in gate.checks if c.name.startswith("exists_in:employer_code"))
    assert (employer.severity, employer.failed_rows, employer.gx_unexpected) == ("warn", 1, 1)
    assert (gate.curated_rows, gate.quarantined_rows) == (3, 0)
