"""The population suite on crafted rows: every defect lands in quarantine with a readable
reason, GX and the split agree, and raw = curated + quarantined."""

from __future__ import annotations

import pytest

from expectations.gate import run_gate
from tests.data_docs import validation_pages
from tests.gx_agreement import assert_gx_agrees_with_split

GOOD = {
    "personal_id": "096085001234",  # Cà Mau, male born 1985
    "full_name": "Nguyễn Văn An",
    "sex": "Nam",
    "date_of_birth": "1985-03-14",
    "ethnicity": "Kinh",
    "household_id": "HK0000000001",
    "relation_to_head": "Chủ hộ",
    "residence_commune_code": "31999",
    "residence_code_era": "2004",
    "residence_address": "Ấp 3",
    "status": "Còn sống",
    "date_of_death": None,
    "updated_at": "2026-10-31T08:15:02Z",
}


_serial = iter(range(100_000, 999_999))


def person(**changes: str | None) -> dict[str, str | None]:
    """A copy of GOOD with its own (consistent) personal ID unless the case sets one."""
    return {**GOOD, "personal_id": f"096085{next(_serial):06d}", **changes}


CASES = [
    ("id_short", person(personal_id="09608500123"), "is not 12 digits"),
    ("id_cmnd", person(personal_id="381234567"), "legacy 9-digit CMND"),
    ("id_province", person(personal_id="003085001234"), "not a province code"),
    ("id_year", person(personal_id="096090001234"), "do not match date_of_birth"),
    ("id_century", person(personal_id="096285001234"), "do not match date_of_birth"),
    ("id_sex", person(personal_id="096185001234"), "sex digit"),
    ("dob_invalid", person(date_of_birth="2023-02-30"), "is not a valid date"),
    ("dob_future", person(date_of_birth="2099-01-01", personal_id="096299001234"), "outside"),
    ("dob_old", person(date_of_birth="1850-01-01", personal_id="096050001234"), "outside"),
    ("name_missing", person(full_name=None), "full_name: missing value"),
    ("sex_bad", person(sex="X"), "is not one of Nam, Nữ"),
    ("name_tcvn3", person(full_name="NguyÔn V¨n An"), "outside the Vietnamese alphabet"),
    ("era_wrong", person(residence_code_era="2025", residence_commune_code="31999"), "wrong era"),
    ("code_unknown", person(residence_commune_code="99999"), "not an official commune code"),
    ("era_bad", person(residence_code_era="1999"), "not a code list"),
]


@pytest.mark.parametrize(("label", "row", "reason"), CASES, ids=[c[0] for c in CASES])
def test_defect_is_quarantined_with_reason(label, row, reason, population_spec, settings,
                                           raw_run_factory):
    run = raw_run_factory(population_spec, [GOOD, row])
    gate = run_gate(population_spec, run, settings, use_gx=False)
    assert gate.raw_rows == 2
    assert (gate.curated_rows, gate.quarantined_rows) == (1, 1), label
    import duckdb

    reasons = duckdb.sql(
        f"SELECT _reasons FROM read_parquet('{gate.staging_dir}/quarantine.parquet')"
    ).fetchall()
    assert reason in reasons[0][0]


def test_gx_and_split_agree_and_nfd_names_are_normalised(population_spec, settings,
                                                         raw_run_factory):
    import unicodedata

    import duckdb

    nfd = unicodedata.normalize("NFD", "Trần Thị Bích")
    rows = [GOOD, person(personal_id="096185004321", sex="Nữ", full_name=nfd)]
    rows += [row for _, row, _ in CASES]
    rows.append(dict(GOOD))  # exact duplicate of the first row
    run = raw_run_factory(population_spec, rows)
    gate = run_gate(population_spec, run, settings, use_gx=True, keep_gx_result=False)
    assert gate.raw_rows == len(rows)
    assert gate.curated_rows + gate.quarantined_rows == gate.raw_rows
    assert gate.curated_rows == 2  # GOOD once + the NFD person
    assert gate.normalised_values == 1
    # One GX expectation per declared check (fewer expectations than row checks).
    assert len({c.group for c in gate.checks}) < len(gate.checks)
    assert_gx_agrees_with_split(gate)
    dup = next(c for c in gate.checks if c.rule == "unique")
    assert dup.failed_rows == 1
    names = duckdb.sql(
        f"SELECT full_name, full_name_raw FROM read_parquet('{gate.staging_dir}/curated.parquet')"
        " ORDER BY full_name"
    ).fetchall()
    assert ("Trần Thị Bích", nfd) in names
    assert unicodedata.is_normalized("NFC", names[1][0])


def test_missing_required_column_blocks_with_its_name(population_spec, settings, raw_run_factory):
    row = {k: v for k, v in GOOD.items() if k != "date_of_birth"}
    spec = population_spec
    from tests.conftest import write_raw_run

    names = [c for c in spec.column_names if c != "date_of_birth"]
    import pyarrow as pa

    from warehouse.raw_zone import RawRunWriter

    writer = RawRunWriter(root=settings.raw_dir, dataset=spec.id, run_id="r1",
                          source={}, window={"since": None, "until": "2026-11-01T00:00:00+00:00"})
    writer.write(pa.RecordBatch.from_pydict({n: pa.array([row[n]], pa.string()) for n in names}))
    run = writer.commit()
    gate = run_gate(spec, run, settings, use_gx=False)
    assert gate.blocked
    assert "date_of_birth" in gate.block_reasons[0]
    assert "date_of_birth" in gate.drift["missing_columns"]
    _ = write_raw_run


def test_too_many_bad_rows_blocks(population_spec, settings, raw_run_factory):
    rows = [GOOD] + [person(personal_id=f"00308500{i:04d}") for i in range(5)]
    gate = run_gate(population_spec, raw_run_factory(population_spec, rows), settings,
                    use_gx=False)
    assert gate.blocked
    assert "quarantined, above the limit" in gate.block_reasons[0]


def test_a_blocked_run_still_gets_its_data_docs(population_spec, settings, raw_run_factory):
    from lgsp import pipeline

    rows = [person(personal_id=f"0030850{i:05d}") for i in range(4)] + [GOOD]
    run = raw_run_factory(population_spec, rows)
    gate = run_gate(population_spec, run, settings, use_gx=True)
    assert gate.blocked and gate.gx_result
    assert gate.data_docs is None  # the gate decides; it does not render HTML
    index = pipeline.data_docs(settings, [(population_spec.id, run.run_id),
                                          ("population", "a-run-that-never-reached-the-gate")])
    found, pages = validation_pages(settings.home)
    assert index == found.as_uri()
    (page,) = [p for p in pages if run.run_id in p.parts]
    text = page.read_text("utf-8")
    assert run.run_id in text and "Unsuccessful Expectations" in text
