"""The linked person view and the gaps dataset over the four real simulated registries
(HTTP population, SQL land, file-drop business, SOAP insurance), run as `lgsp run` does.

Expected values come from the generators' own truth (who was left uninsured, which holders
are unknown) and from plain Python over the curated tables, never from the linking SQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from catalog.spec import get_spec, in_dependency_order, load_specs
from lgsp import pipeline
from lgsp.config import Settings
from lgsp.registries_runtime import running_registries
from registries.insurance.generator import add_years, generate_insurance
from warehouse.query import curated_connection

SIZE = 3000
SEED = 11


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(home=tmp_path_factory.mktemp("home"), specs_dir=Settings.from_env().specs_dir)
    mp = pytest.MonkeyPatch()
    mp.setenv("LGSP_HOME", str(settings.home))
    try:
        with running_registries(size=SIZE, seed=SEED):
            for spec in in_dependency_order(load_specs()):
                summary = pipeline.run_dataset(spec, settings, use_gx=False)
                assert not summary.blocked, (spec.id, summary.block_reasons)
        yield settings
    finally:
        mp.undo()


def _rows(settings: Settings, sql: str) -> list[dict]:
    return curated_connection(settings).sql(sql).to_arrow_table().to_pylist()


def test_one_linked_row_per_resident_with_what_each_registry_knows(published):
    settings = published
    people = {r["personal_id"]: r for r in _rows(settings, "SELECT * FROM population")}
    linked = {r["personal_id"]: r for r in _rows(settings, "SELECT * FROM person_linked")}
    assert set(linked) == set(people)
    members: dict[str, list[dict]] = {}
    for m in _rows(settings, "SELECT * FROM insurance_members"):
        members.setdefault(m["personal_id"], []).append(m)
    owned: dict[str, set[str]] = {}
    for b in _rows(settings, "SELECT enterprise_code, owner_personal_id FROM business_registry"):
        if b["owner_personal_id"]:
            owned.setdefault(b["owner_personal_id"], set()).add(b["enterprise_code"])
    held: dict[str, set[str]] = {}
    for c in _rows(settings, "SELECT parcel_id, holder_id FROM land_certificates "
                             "WHERE holder_type = 'person'"):
        held.setdefault(c["holder_id"], set()).add(c["parcel_id"])

    for pid, row in linked.items():
        assert row["full_name"] == people[pid]["full_name"]
        if pid in members:
            assert row["bhxh_number"] in {m["bhxh_number"] for m in members[pid]}
        else:
            assert row["bhxh_number"] is None
        assert row["enterprises_owned"] == len(owned.get(pid, ()))
        assert set(filter(None, (row["enterprise_codes"] or "").split(","))) == owned.get(pid, set())
        assert set(filter(None, (row["parcel_ids"] or "").split(","))) == held.get(pid, set())
        known = set(row["known_to"].split(","))
        assert known == {"population"} | {name for name, index in
                                          (("insurance", members), ("business", owned),
                                           ("land", held)) if pid in index}
    # The registries do overlap: the view links people across all four.
    assert sum(len(r["known_to"].split(",")) == 4 for r in linked.values()) > 0


def test_children_under_six_without_a_valid_card_are_gaps(published):
    settings = published
    today = date.today()
    gaps = {r["subject_id"] for r in _rows(
        settings, "SELECT subject_id FROM gaps WHERE gap_type = 'child_under_6_without_health_card'")}
    people = {r["personal_id"]: r for r in _rows(settings, "SELECT * FROM population")}
    cards: dict[str, list[dict]] = {}
    for m in _rows(settings, "SELECT personal_id, card_number, card_valid_to FROM insurance_members"):
        cards.setdefault(m["personal_id"], []).append(m)

    def under_six(pid: str) -> bool:
        born = people[pid]["date_of_birth"]
        return people[pid]["status"] == "Còn sống" and add_years(born, 6) > today

    def valid_card(pid: str) -> bool:
        return any(c["card_number"] and (c["card_valid_to"] is None or c["card_valid_to"] >= today)
                   for c in cards.get(pid, ()))

    expected = {pid for pid in people if under_six(pid) and not valid_card(pid)}
    assert gaps == expected
    # The generator left these children without any insurance record: all are found.
    truth = set(generate_insurance(SIZE, SEED).uninsured_children)
    assert {pid for pid in truth if pid in people and under_six(pid)} <= gaps
    assert truth & gaps


def test_active_enterprises_without_insured_employees_are_gaps(published):
    settings = published
    gaps = {r["subject_id"] for r in _rows(
        settings, "SELECT subject_id FROM gaps WHERE gap_type = 'business_without_insured_employees'")}
    employers = {r["employer_code"] for r in _rows(
        settings, "SELECT employer_code FROM insurance_members WHERE employer_code IS NOT NULL")}
    active = {r["enterprise_code"] for r in _rows(
        settings, "SELECT enterprise_code FROM business_registry WHERE status_code = '00'")
        if "-" not in r["enterprise_code"]}
    assert gaps == active - employers
    assert active & employers, "most active enterprises do have insured employees"


def test_certificates_whose_holder_is_unknown_are_gaps(published):
    settings = published
    gaps = {r["gap_id"].split(":", 1)[1] for r in _rows(
        settings, "SELECT gap_id FROM gaps WHERE gap_type = 'parcel_holder_unknown'")}
    people = {r["personal_id"] for r in _rows(settings, "SELECT personal_id FROM population")}
    firms = {r["enterprise_code"] for r in _rows(settings,
                                                 "SELECT enterprise_code FROM business_registry")}
    expected = {c["certificate_serial"] for c in _rows(settings, "SELECT * FROM land_certificates")
                if c["holder_id"] not in (people if c["holder_type"] == "person" else firms)}
    assert gaps == expected
    assert gaps, "the land generator seeds holders unknown to the registries"


def _sixth_birthday(born: date) -> date:
    """Same day and month six years on; 28 February for a child born on 29 February."""
    try:
        return born.replace(year=born.year + 6)
    except ValueError:
        return born.replace(year=born.year + 6, day=28)


def _documented_condition(on: date) -> str:
    """The question as person_linked's description writes it, for the date `on`."""
    text = get_spec("person_linked").description.en
    (condition,) = re.findall(r"`([^`]*health_card_valid_to[^`]*)`", text)
    assert "gaps" in text and re.search(r"\bD\b", condition), condition
    return re.sub(r"\bD\b", f"DATE '{on.isoformat()}'", condition)


def test_gaps_and_person_linked_give_the_same_children_without_a_card(published):
    """One definition (alive, sixth birthday after the date, no card still valid then),
    asked of both datasets on the same curated data: the same children."""
    settings = published
    found = _rows(settings, "SELECT subject_id, detected_on FROM gaps "
                            "WHERE gap_type = 'child_under_6_without_health_card'")
    (detected_on,) = {r["detected_on"] for r in found}
    gaps = {r["subject_id"] for r in found}
    linked = {r["personal_id"] for r in _rows(
        settings, f"SELECT personal_id FROM person_linked WHERE {_documented_condition(detected_on)}")}
    assert linked == gaps and gaps
    # Counted by hand for other dates too: person_linked answers the question for any date
    # (its card is the one valid longest), alive children only, either residence era.
    people = _rows(settings, "SELECT personal_id, date_of_birth, status, residence_code_era "
                             "FROM population")
    ends: dict[str, list[date | None]] = {}
    for m in _rows(settings, "SELECT personal_id, card_number, card_valid_to FROM insurance_members "
                             "WHERE card_number IS NOT NULL"):
        ends.setdefault(m["personal_id"], []).append(m["card_valid_to"])
    for on in (detected_on - timedelta(days=400), detected_on, detected_on + timedelta(days=200)):
        expected = {p["personal_id"] for p in people
                    if p["status"] == "Còn sống" and _sixth_birthday(p["date_of_birth"]) > on
                    and not any(end is None or end >= on for end in ends.get(p["personal_id"], ()))}
        asked = {r["personal_id"] for r in _rows(
            settings, f"SELECT personal_id FROM person_linked WHERE {_documented_condition(on)}")}
        assert asked == expected, on
    children = {p["personal_id"]: p for p in people}
    assert {children[pid]["residence_code_era"] for pid in gaps} == {"2004", "2025"}
    dead_children = [p for p in people if p["status"] != "Còn sống"
                     and _sixth_birthday(p["date_of_birth"]) > detected_on]
    assert dead_children and not {p["personal_id"] for p in dead_children} & gaps


def test_every_gap_names_its_commune_and_code_list(published):
    settings = published
    parcels = {r["parcel_id"]: (r["commune_code"], r["commune_code_era"]) for r in _rows(
        settings, "SELECT parcel_id, commune_code, commune_code_era FROM land_parcels")}
    certificates = {r["certificate_serial"]: r["parcel_id"] for r in _rows(
        settings, "SELECT certificate_serial, parcel_id FROM land_certificates")}
    people = {r["personal_id"]: (r["residence_commune_code"], r["residence_code_era"]) for r in _rows(
        settings, "SELECT personal_id, residence_commune_code, residence_code_era FROM population")}
    gaps = _rows(settings, "SELECT * FROM gaps")
    land = [g for g in gaps if g["gap_type"] == "parcel_holder_unknown"]
    assert land
    for gap in land:
        parcel = certificates[gap["gap_id"].split(":", 1)[1]]
        assert gap["subject_id"] == parcel
        assert (gap["commune_code"], gap["commune_code_era"]) == parcels.get(parcel, (None, None))
    assert sum(g["commune_code"] is not None for g in land) >= 0.9 * len(land)
    for gap in gaps:
        if gap["gap_type"] == "child_under_6_without_health_card":
            assert (gap["commune_code"], gap["commune_code_era"]) == people[gap["subject_id"]]
        elif gap["commune_code"] is not None:
            assert gap["commune_code_era"] in ("2004", "2025"), gap
