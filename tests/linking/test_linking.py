"""The linked person view and the gaps dataset over the four real simulated registries
(HTTP population, SQL land, file-drop business, SOAP insurance), run as `lgsp run` does.

Expected values come from the generators' own truth (who was left uninsured, which holders
are unknown) and from plain Python over the curated tables, never from the linking SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from catalog.spec import in_dependency_order, load_specs
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
