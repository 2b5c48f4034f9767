"""The definition of "a child under 6 without a valid health-insurance card", on crafted
registries where the edge cases are certain to occur (several cards per child, a deceased
child, a sixth birthday today or tomorrow, an open-ended card, an old-era residence):
warehouse/linking/gaps.sql and the question person_linked's description writes give the
same children, and the children the definition names (listed here by hand).

The SQL files run on real DuckDB tables typed as the curated tables are."""

from __future__ import annotations

import re
from datetime import date, timedelta

import duckdb
import pytest

from catalog.spec import get_spec
from lgsp.config import PROJECT_ROOT

LINKING = PROJECT_ROOT / "warehouse" / "linking"


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@pytest.fixture(scope="module")
def registries():
    con = duckdb.connect()
    (today,) = con.execute("SELECT current_date").fetchone()
    year = timedelta(days=365)
    con.execute("CREATE TABLE population (personal_id VARCHAR, full_name VARCHAR, sex VARCHAR, "
                "date_of_birth DATE, status VARCHAR, household_id VARCHAR, "
                "residence_commune_code VARCHAR, residence_code_era VARCHAR, updated_at TIMESTAMP)")
    con.execute("CREATE TABLE insurance_members (bhxh_number VARCHAR, personal_id VARCHAR, "
                "card_number VARCHAR, card_valid_from DATE, card_valid_to DATE, "
                "employer_code VARCHAR, updated_at TIMESTAMP)")
    con.execute("CREATE TABLE business_registry (enterprise_code VARCHAR, name VARCHAR, "
                "status_code VARCHAR, owner_personal_id VARCHAR, commune_code VARCHAR, "
                "commune_code_era VARCHAR)")
    con.execute("CREATE TABLE land_parcels (parcel_id VARCHAR, commune_code VARCHAR, "
                "commune_code_era VARCHAR)")
    con.execute("CREATE TABLE land_certificates (certificate_serial VARCHAR, parcel_id VARCHAR, "
                "holder_type VARCHAR, holder_id VARCHAR)")
    alive, dead = "Còn sống", "Đã mất"
    people = [
        # id, born, status, era
        ("insured", today - 3 * year, alive, "2025"),
        ("uninsured", today - 3 * year, alive, "2025"),
        ("uninsured_old_era", today - 2 * year, alive, "2004"),
        ("deceased", today - 2 * year, dead, "2025"),
        ("renewed_then_edited", today - 4 * year, alive, "2025"),   # valid card, older record
        ("card_less_record_last", today - 4 * year, alive, "2025"),
        ("only_expired", today - 4 * year, alive, "2025"),
        ("open_ended", today - 1 * year, alive, "2025"),
        ("six_today", _years_before(today, 6), alive, "2025"),
        ("six_tomorrow", _years_before(today + timedelta(days=1), 6), alive, "2025"),
        ("adult", today - 30 * year, alive, "2025"),
    ]
    for pid, born, status, era in people:
        con.execute("INSERT INTO population VALUES (?, 'Nguyễn Văn An', 'Nam', ?, ?, 'HK1', "
                    "'32185', ?, TIMESTAMP '2026-01-01 00:00:00')", [pid, born, status, era])
    cards = [
        # personal id, card, valid to, updated days ago
        ("insured", "TE1", today + 2 * year, 10),
        ("renewed_then_edited", "TE2", today + year, 30),
        ("renewed_then_edited", "GD3", today - year, 1),         # expired, edited later
        ("card_less_record_last", "TE4", today + year, 30),
        ("card_less_record_last", None, None, 1),
        ("only_expired", "GD5", today - timedelta(days=1), 5),
        ("open_ended", "TE6", None, 5),
    ]
    for n, (pid, card, valid_to, days) in enumerate(cards):
        con.execute("INSERT INTO insurance_members VALUES (?, ?, ?, DATE '2020-01-01', ?, NULL, "
                    "current_timestamp - to_days(?))", [f"96{n:08d}", pid, card, valid_to, days])
    con.execute("INSERT INTO land_parcels VALUES ('32185-4-17', '32185', '2025')")
    con.execute("INSERT INTO land_certificates VALUES ('AB00000001', '32185-4-17', 'person', "
                "'nobody'), ('AB00000002', '31999-1-2', 'person', 'nobody either')")
    yield con, today
    con.close()


def _run(con: duckdb.DuckDBPyConnection, sql_file: str, where: str = "") -> list[dict]:
    inputs = ("population", "insurance_members", "business_registry", "land_parcels",
              "land_certificates")
    sql = (LINKING / sql_file).read_text("utf-8").format(**{n: n for n in inputs})
    return con.sql(f"SELECT * FROM ({sql}) {where}").to_arrow_table().to_pylist()


def _documented_condition(on: date) -> str:
    text = get_spec("person_linked").description.en
    (condition,) = re.findall(r"`([^`]*health_card_valid_to[^`]*)`", text)
    return re.sub(r"\bD\b", f"DATE '{on.isoformat()}'", condition)


EXPECTED = {"uninsured", "uninsured_old_era", "only_expired", "six_tomorrow"}


def test_gaps_names_the_children_of_the_definition(registries):
    con, _ = registries
    rows = _run(con, "gaps.sql", "WHERE gap_type = 'child_under_6_without_health_card'")
    assert {r["subject_id"] for r in rows} == EXPECTED
    assert {r["subject_id"]: r["commune_code_era"] for r in rows}["uninsured_old_era"] == "2004"


def test_person_linked_answers_the_same_question_the_same_way(registries):
    con, today = registries
    found = {r["personal_id"] for r in _run(con, "person_linked.sql",
                                            f"WHERE {_documented_condition(today)}")}
    assert found == EXPECTED
    linked = {r["personal_id"]: r for r in _run(con, "person_linked.sql")}
    # The card shown is the one valid longest, not the last record edited.
    assert linked["renewed_then_edited"]["health_card_number"] == "TE2"
    assert linked["card_less_record_last"]["health_card_number"] == "TE4"
    assert linked["open_ended"]["health_card_valid_to"] is None


def test_parcel_holder_gaps_carry_the_parcels_commune(registries):
    con, _ = registries
    rows = {r["gap_id"]: r for r in _run(con, "gaps.sql",
                                         "WHERE gap_type = 'parcel_holder_unknown'")}
    known = rows["parcel_holder_unknown:AB00000001"]
    assert (known["commune_code"], known["commune_code_era"]) == ("32185", "2025")
    unpublished = rows["parcel_holder_unknown:AB00000002"]  # parcel not among the parcels
    assert (unpublished["commune_code"], unpublished["commune_code_era"]) == (None, None)
