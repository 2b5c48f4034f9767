"""The insurance generator: deterministic, members are real people of the population and
employees work for real enterprises of the business registry, clean cards follow the card
rules, children under 6 mostly hold TE cards, defects are labelled."""

from __future__ import annotations

import re
from datetime import date

import pytest
from stdnum.vn import mst

from registries.insurance.generator import DEFAULT_AS_OF, DEFECT_KINDS, generate_insurance
from tests.insurance.benefit_levels import LEVEL_OF_GROUP
from tests.insurance.conftest import SEED, SIZE

AS_OF = date.fromisoformat(DEFAULT_AS_OF)


@pytest.fixture(scope="module")
def data():
    return generate_insurance(SIZE, SEED, as_of=DEFAULT_AS_OF)


@pytest.fixture(scope="module")
def people():
    from registries.population.generator import generate_population

    table = generate_population(SIZE, SEED, as_of=DEFAULT_AS_OF)
    return {r["personal_id"]: r for r in table.to_pylist() if r["_defect"] is None}


def _age(born: str) -> int:
    b = date.fromisoformat(born)
    return AS_OF.year - b.year - ((AS_OF.month, AS_OF.day) < (b.month, b.day))


def test_same_seed_same_members_other_seed_other_members(data):
    assert generate_insurance(SIZE, SEED, as_of=DEFAULT_AS_OF).members.equals(data.members)
    other = generate_insurance(SIZE, SEED + 1, as_of=DEFAULT_AS_OF).members
    assert other.column("bhxh_number").to_pylist() != data.members.column("bhxh_number").to_pylist()


def test_clean_members_are_real_people_with_consistent_cards(data, people):
    from registries.business.generator import generate_business

    enterprises = {r["enterprise_code"]: r["status_code"] for r in
                   generate_business(SIZE, SEED, as_of=DEFAULT_AS_OF) if r["_defect"] is None}
    assert set(data.employers) == {c for c, status in enterprises.items() if status == "00"}
    rows = data.members.to_pylist()
    clean = [r for r in rows if r["_defect"] is None]
    assert len(clean) > 0.8 * len(people)
    assert len({r["bhxh_number"] for r in rows}) == len(rows)
    assert len({r["personal_id"] for r in rows}) == len(rows)
    for r in clean:
        person = people[r["personal_id"]]
        assert (r["full_name"], r["date_of_birth"]) == (person["full_name"], person["date_of_birth"])
        card = r["card_number"]
        assert re.fullmatch(r"[A-Z]{2}[1-5][0-9]{2}[0-9]{10}", card), r
        assert card[5:] == r["bhxh_number"] and re.fullmatch(r"[0-9]{10}", r["bhxh_number"])
        assert int(card[2]) == LEVEL_OF_GROUP[card[:2]], r
        assert card[3:5] in ("96", "95"), r  # Cà Mau, or Bạc Liêu before the 2025 merge
        assert r["card_valid_from"] <= r["card_valid_to"]
        if card[:2] == "DN":
            assert r["employer_code"] in enterprises, r
        if card[:2] in ("DN", "HC"):
            assert mst.is_valid(r["employer_code"]), r
        else:
            assert r["employer_code"] is None, r
        if r["_note"] == "employer_inactive":
            assert enterprises[r["employer_code"]] != "00", r
        elif card[:2] == "DN":
            assert enterprises[r["employer_code"]] == "00", r
        if card.startswith("TE"):
            assert _age(r["date_of_birth"]) < 6 and r["card_valid_from"] == r["date_of_birth"]
        elif _age(r["date_of_birth"]) < 6 and person["status"] == "Còn sống":
            assert r["_note"] == "child_not_te", r


def test_children_under_six_mostly_hold_te_cards_with_some_gaps(data, people):
    children = {pid for pid, p in people.items()
                if _age(p["date_of_birth"]) < 6 and p["status"] == "Còn sống"}
    by_person = {r["personal_id"]: r for r in data.members.to_pylist()}
    te = {pid for pid in children if pid in by_person
          and by_person[pid]["card_number"].upper().replace(" ", "").startswith("TE")}
    without_record = children - set(by_person)
    assert without_record == set(data.uninsured_children)
    not_te = {pid for pid in children if by_person.get(pid, {}).get("_note") == "child_not_te"}
    assert without_record and not_te, "both kinds of gap exist"
    assert len(te) / len(children) > 0.85
    assert te | without_record | not_te == children


def test_every_defect_kind_is_seeded_and_unknown_people_are_not_in_the_population(data, people):
    rows = data.members.to_pylist()
    kinds = {r["_defect"] for r in rows} - {None}
    assert kinds == set(DEFECT_KINDS) | {"unknown_personal_id"}
    unknown = [r for r in rows if r["_defect"] == "unknown_personal_id"]
    assert unknown and all(r["personal_id"] not in people for r in unknown)
    assert all(re.fullmatch(r"096[0-9]{9}", r["personal_id"]) for r in unknown)
    assert all(r["personal_id"] in people for r in rows if r["_defect"] != "unknown_personal_id")
    share = sum(1 for r in rows if r["_defect"] in DEFECT_KINDS) / len(rows)
    assert 0.015 < share < 0.05
