"""GX's verdict and the gate's decision tell one story: a run published with quarantined
rows is a succeeded validation in GX's store and Data Docs; a blocked run (too many
quarantined rows, or a critical check failing) is a failed one, with the expectation that
blocked it marked failed; a warn check never fails the suite."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from catalog.spec import get_spec
from expectations.gate import GateError, run_gate
from lgsp import pipeline
from tests.data_docs import validation_pages
from tests.expectations.test_gate_population import GOOD, person


def _stored_result(home: Path, run_id: str) -> dict:
    (path,) = [p for p in (home / "quality" / "gx").rglob("uncommitted/validations/**/*.json")
               if run_id in p.parts]
    return json.loads(path.read_text("utf-8"))


def _by_check(result: dict) -> dict[str, dict]:
    return {(r["expectation_config"].get("meta") or {}).get("lgsp_check",
                                                            r["expectation_config"]["type"]): r
            for r in result["results"]}


def _page(settings, spec_id: str, run_id: str) -> tuple[str, int]:
    """The run's Data Docs page: its status and its count of unsuccessful expectations."""
    pipeline.data_docs(settings, [(spec_id, run_id)])
    _, pages = validation_pages(settings.home)
    (page,) = [p for p in pages if run_id in p.parts]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text("utf-8")))
    status = re.search(r"Status: (\w+)", text)
    unsuccessful = re.search(r"Unsuccessful Expectations (\d+)", text)
    assert status and unsuccessful, text[:2000]
    return status[1], int(unsuccessful[1])


def test_a_published_run_with_quarantined_rows_succeeds_in_gx(population_spec, settings,
                                                               raw_run_factory):
    rows = [person() for _ in range(9)] + [person(sex="X")]  # 10 % quarantined, limit 20 %
    run = raw_run_factory(population_spec, rows)
    gate = run_gate(population_spec, run, settings, use_gx=True)
    assert not gate.blocked and gate.quarantined_rows == 1
    result = _stored_result(settings.home, run.run_id)
    assert result["success"] is True
    checks = _by_check(result)
    sex = next(r for name, r in checks.items() if name.startswith("in_set") and "sex" in name)
    assert sex["success"] is True and sex["result"]["observed_value"] == 1  # counted, not failed
    assert checks["quarantine_rate"]["success"] is True
    assert checks["quarantine_rate"]["result"]["observed_value"] == 1
    assert _page(settings, population_spec.id, run.run_id) == ("Succeeded", 0)


def test_too_many_quarantined_rows_fail_in_gx_as_they_block(population_spec, settings,
                                                             raw_run_factory):
    rows = [person() for _ in range(7)] + [person(sex="X") for _ in range(3)]  # 30 % > 20 %
    run = raw_run_factory(population_spec, rows)
    gate = run_gate(population_spec, run, settings, use_gx=True)
    assert gate.blocked and "above the limit" in gate.block_reasons[0]
    result = _stored_result(settings.home, run.run_id)
    assert result["success"] is False
    failed = [name for name, r in _by_check(result).items() if not r["success"]]
    assert "quarantine_rate" in failed
    assert any(name.startswith("in_set") for name in failed)  # 30 % fail the one check too
    assert _page(settings, population_spec.id, run.run_id) == ("Failed", len(failed))


def test_a_critical_failure_fails_its_expectation_alone(population_spec, settings,
                                                         raw_run_factory):
    rows = [person() for _ in range(19)] + [person(updated_at="2026-13-45T99:00:00Z")]
    run = raw_run_factory(population_spec, rows)
    gate = run_gate(population_spec, run, settings, use_gx=True)
    assert gate.blocked and "critical" in gate.block_reasons[0]
    result = _stored_result(settings.home, run.run_id)
    assert result["success"] is False
    failed = [name for name, r in _by_check(result).items() if not r["success"]]
    assert len(failed) == 1 and "updated_at" in failed[0], failed  # 5 % is within the rate


def test_warn_checks_are_reported_and_never_fail_the_suite(settings, raw_run_factory):
    spec = get_spec("business_registry")
    good = {"enterprise_code": "2058654677", "unit_type": "doanh nghiệp",
            "name": "Công ty cổ phần Nông nghiệp Ấp Chợ", "legal_form": "cổ phần",
            "status_code": "00", "address": "Số 102, đường Nguyễn Trãi, Xã Thanh Tùng",
            "commune_code": "32185", "commune_code_era": "2025",
            "owner_personal_id": "096181060426", "sector_code": "0111",
            "registered_date": "2012-10-07", "updated_at": "2024-03-02T11:28:42+07:00"}
    # The same code twice in a run: the `unique` check of this spec is a warning (the older
    # version is superseded at publish), on every row but one.
    rows = [good, {**good, "updated_at": "2024-03-03T11:28:42+07:00"}]
    run = raw_run_factory(spec, rows)
    gate = run_gate(spec, run, settings, use_gx=True)
    warned = [c for c in gate.checks if c.severity == "warn" and c.failed_rows]
    assert warned and not gate.blocked and gate.quarantined_rows == 0
    result = _stored_result(settings.home, run.run_id)
    assert result["success"] is True  # 50 % of the rows warned about: still published
    for check in warned:
        stored = _by_check(result)[check.group]
        assert stored["success"] is True and stored["result"]["observed_value"] == check.failed_rows


def test_the_gate_refuses_a_suite_that_tells_another_story(population_spec, settings,
                                                           raw_run_factory, monkeypatch):
    """If GX's suite ever stops stating a gate rule, the gate fails loudly instead of
    leaving Data Docs and `lgsp` disagreeing."""
    from expectations import gx_duckdb

    monkeypatch.setattr(gx_duckdb, "allowed_share", lambda severity, rate: 0.0)
    run = raw_run_factory(population_spec, [person() for _ in range(9)] + [person(sex="X")])
    with pytest.raises(GateError, match="suite failed but the gate passed it"):
        run_gate(population_spec, run, settings, use_gx=True, keep_gx_result=False)


_ = GOOD


@pytest.mark.parametrize(("live_rows", "quarantined", "blocked"),
                         [(2, 0, False), (1, 0, True), (2, 1, True), (3, 1, False)])
def test_gx_agrees_with_the_table_minimum_of_an_incremental_run(settings, raw_run_factory,
                                                                 live_rows, quarantined, blocked):
    """`min_rows` guards an incremental table after the run (its curated rows; deletions and
    quarantined rows do not count); GX sees the run's live rows and must reach the same
    verdict as the gate."""
    land = get_spec("land_parcels")
    spec = land.model_copy(update={"quality": land.quality.model_copy(
        update={"min_rows": 2, "max_quarantine_rate": 0.5})})

    def parcel(n: int, **over: str) -> dict[str, str | None]:
        return {"parcel_id": f"32185-4-{n}", "commune_code": "32185", "commune_code_era": "2025",
                "legacy_commune_code": None, "map_sheet": "4", "parcel_number": str(n),
                "area_m2": "120.5", "land_use_code": "ONT", "land_use_code_list": "2024",
                "address": "Ấp 3", "updated_at": "2026-10-31T08:15:02+07:00", "_deleted": "false",
                **over}

    rows = [parcel(10 + i) for i in range(live_rows - quarantined)]
    rows += [parcel(50 + i, land_use_code="XYZ") for i in range(quarantined)]
    rows.append({"parcel_id": "32185-4-18", "updated_at": "2026-10-31T09:00:00+07:00",
                 "_deleted": "true"})
    run = raw_run_factory(spec, rows)
    gate = run_gate(spec, run, settings, use_gx=True)
    assert (gate.curated_rows, gate.quarantined_rows, gate.deleted_rows) == \
        (live_rows - quarantined, quarantined, 1)
    assert gate.blocked is blocked, gate.block_reasons
    assert _stored_result(settings.home, run.run_id)["success"] is (not blocked)
