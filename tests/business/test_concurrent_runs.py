"""Two runs of business_registry (file_drop transport, a real drop folder written by the
simulated registry) at once on one home: the second is refused naming the run holding the
lock (it does not ingest the same files), and the curated and quarantine tables equal
those of a single run."""

from __future__ import annotations

from lgsp import pipeline
from registries.population.generator import PUBLIC_COLUMNS, generate_population
from tests.business.conftest import AS_OF, SEED, SIZE, spec_for
from tests.business.test_business_pipeline import publish_population
from tests.concurrency import other_home, run_twice_at_once, tables
from warehouse.run_lock import DatasetLocked


def test_two_business_runs_at_once_give_the_tables_of_one(drop, settings, tmp_path):
    spec = spec_for(drop.files[0].parent)
    single = other_home(settings, tmp_path)
    population_table = generate_population(SIZE, SEED, as_of=AS_OF).select(list(PUBLIC_COLUMNS))
    for home in (settings, single):
        publish_population(home, population_table)
    first, second = run_twice_at_once(spec, settings)
    assert isinstance(second, DatasetLocked), second
    assert "business_registry" in str(second) and f"lgsp run {first.run_id}" in str(second)
    assert not first.blocked and first.quarantined > 0
    pipeline.run_dataset(spec, single, use_gx=False)
    assert tables(settings, "business_registry") == tables(single, "business_registry")
