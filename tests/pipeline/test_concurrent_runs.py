"""Two runs of the population dataset (REST) at once, on one home, against the real
simulated registry: the second is refused naming the dataset and the run holding it (it
neither ingests nor removes the first one's unfinished raw folder), and the curated and
quarantine tables equal those of a single run. On the SQLite catalog and on PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from catalog.spec import get_spec
from lgsp import pipeline
from tests.concurrency import other_home, pg_catalog, run_twice_at_once, tables
from warehouse.raw_zone import committed_runs
from warehouse.run_lock import DatasetLocked


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_two_population_runs_at_once_give_the_tables_of_one(env, tmp_path, catalog):
    spec = get_spec("population")
    with pg_catalog() as uri:
        settings = dataclasses.replace(env, catalog_uri=uri if catalog == "postgresql" else None)
        first, second = run_twice_at_once(spec, settings)
        assert isinstance(second, DatasetLocked), second
        assert "population" in str(second) and f"lgsp run {first.run_id}" in str(second)
        assert not first.blocked and first.extracted > 0
        assert [r.run_id for r in committed_runs(settings.raw_dir, "population")] == [first.run_id]

        single = other_home(settings, tmp_path)  # its own home and SQLite catalog
        pipeline.run_dataset(spec, single, use_gx=False)
        assert tables(settings, "population") == tables(single, "population")
