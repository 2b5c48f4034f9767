"""Two runs of insurance_members (soap_xml transport, the real simulated SOAP service) at
once on one home: the second is refused naming the run holding the lock, and the curated
and quarantine tables equal those of a single run."""

from __future__ import annotations

from lgsp import pipeline
from tests.concurrency import other_home, run_twice_at_once, tables
from tests.insurance.conftest import publish_population, spec_with
from warehouse.run_lock import DatasetLocked


def test_two_insurance_runs_at_once_give_the_tables_of_one(env, admin, tmp_path):
    settings = env
    spec = spec_with()
    single = other_home(settings, tmp_path)
    for home in (settings, single):
        publish_population(home)
    first, second = run_twice_at_once(spec, settings)
    assert isinstance(second, DatasetLocked), second
    assert "insurance_members" in str(second) and f"lgsp run {first.run_id}" in str(second)
    assert not first.blocked and first.quarantined > 0
    pipeline.run_dataset(spec, single, use_gx=False)
    assert tables(settings, "insurance_members") == tables(single, "insurance_members")
