"""Two runs of land_parcels (SQL transport, a real PostgreSQL cadastral database) at once on
one home: the second is refused naming the run holding the lock, and the curated and
quarantine tables equal those of a single run."""

from __future__ import annotations

from lgsp import pipeline
from tests.concurrency import other_home, run_twice_at_once, tables
from tests.land.conftest import LOADED, spec_for
from warehouse.run_lock import DatasetLocked


def test_two_land_parcel_runs_at_once_give_the_tables_of_one(pg, settings, tmp_path):
    spec = spec_for("land_parcels", pg, batch_rows=250)
    first, second = run_twice_at_once(spec, settings, until=LOADED)
    assert isinstance(second, DatasetLocked), second
    assert "land_parcels" in str(second) and f"lgsp run {first.run_id}" in str(second)
    assert not first.blocked and first.quarantined > 0
    single = other_home(settings, tmp_path)
    pipeline.run_dataset(spec, single, use_gx=False, until=LOADED)
    assert tables(settings, "land_parcels") == tables(single, "land_parcels")
