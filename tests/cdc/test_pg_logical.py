"""Log-based change capture (issue 11): inserts, updates, deletes, a delete + re-insert in one
transaction, a key changed again under an older timestamp, and a long transaction committing
late all arrive exactly once and in commit order; a run killed before publishing is read again
from the slot, one killed after publishing is not (nothing lost, nothing twice)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from catalog.spec import get_spec
from connectors.base import ConnectorError
from connectors.pg_logical import STATE_KEY, lsn_int
from connectors.state import StateStore
from expectations.gate import run_gate
from lgsp import pipeline
from registries.land.database import LandDatabase
from tests.land.conftest import LOADED
from tests.land.test_no_change_lost import _clean, _curated, _insert_copy, _new_key, assert_mirrors


@pytest.fixture
def cdc_db(logical_server, land_data):
    db = LandDatabase(f"lgsp_cdc_{uuid.uuid4().hex[:10]}", "postgresql", server=logical_server)
    db.load(land_data)
    yield db
    db.drop()


def _spec(db: LandDatabase):
    spec = get_spec("land_parcels")
    source = spec.source.model_copy(update={"connector": "pg_logical", "params": {
        "dsn": db.dsn, "table": "parcels", "slot": f"lgsp_{db.name}", "publication": "lgsp_parcels"}})
    return spec.model_copy(update={"source": source})


def _slot_position(db: LandDatabase) -> int:
    return lsn_int(db.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots")[0][0])


def test_changes_arrive_exactly_once_in_commit_order(cdc_db, land_data, settings):
    db, spec = cdc_db, _spec(cdc_db)
    first = pipeline.run_dataset(spec, settings, use_gx=False)
    assert first.extracted == len(land_data.parcels)  # the initial load, from one snapshot
    assert_mirrors(db, settings, land_data)

    updated, deleted, reinserted, twice, late, model = _clean(db, land_data, 6)
    new, late_new = _new_key(model, 990_001), _new_key(model, 990_002)
    db.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
               "updated_at = now() WHERE parcel_id = %s", (updated,))
    with db.connect() as con, con.cursor() as cur:
        _insert_copy(cur, db, model, new, "now()")
    db.execute("DELETE FROM parcels WHERE parcel_id = %s", (deleted,))
    with db.connect() as con, con.cursor() as cur:  # one transaction, one timestamp
        cur.execute("CREATE TEMPORARY TABLE keep AS SELECT * FROM parcels WHERE parcel_id = %s",
                    (reinserted,))
        cur.execute("DELETE FROM parcels WHERE parcel_id = %s", (reinserted,))
        cur.execute("INSERT INTO parcels SELECT * FROM keep")
        cur.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
                    "updated_at = now() WHERE parcel_id = %s", (reinserted,))
    db.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
               "updated_at = now() WHERE parcel_id = %s", (twice,))

    before_late = _curated(settings)[late]
    with db.connect() as long_running, long_running.cursor() as cur:  # commits after run 2
        cur.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
                    "updated_at = now() WHERE parcel_id = %s", (late,))
        _insert_copy(cur, db, model, late_new, "now()")
        second = pipeline.run_dataset(spec, settings, use_gx=False)
        assert second.extracted == 5  # updated, new, deleted, reinserted, twice: once each
        assert _curated(settings)[late] == before_late and late_new not in _curated(settings)
    # `twice` changed again, stamped by an application clock far behind: the log's order wins.
    db.execute("UPDATE parcels SET land_use_code = 'ONT', land_use_code_list = '2024', "
               "updated_at = %s WHERE parcel_id = %s", (LOADED - timedelta(days=400), twice))
    third = pipeline.run_dataset(spec, settings, use_gx=False)
    assert third.extracted == 3  # the late transaction's two rows and `twice`
    assert_mirrors(db, settings, land_data)
    curated = _curated(settings)
    assert curated[late][0] == "ODT" and late_new in curated and deleted not in curated
    assert curated[twice][0] == "ONT" and curated[reinserted][0] == "ODT"


def test_a_killed_run_resumes_from_the_slot_without_loss_or_duplicate(cdc_db, land_data,
                                                                        settings):
    db, spec = cdc_db, _spec(cdc_db)
    pipeline.run_dataset(spec, settings, use_gx=False)
    a, b = _clean(db, land_data, 2)
    db.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
               "updated_at = now() WHERE parcel_id = %s", (a,))
    # Killed after extract and gate, before publish: the state (and so the slot) stays.
    killed = pipeline.extract(spec, settings)
    assert killed.row_count == 1
    run_gate(spec, killed, settings, use_gx=False)
    db.execute("DELETE FROM parcels WHERE parcel_id = %s", (b,))
    resumed = pipeline.run_dataset(spec, settings, use_gx=False)
    assert resumed.extracted == 2  # the lost run's update again, and the delete
    assert_mirrors(db, settings, land_data)
    # Published: the state holds the position; the slot is advanced at the next run's start
    # (as after a run killed between its publish and the advance): nothing comes twice.
    saved = lsn_int(StateStore(settings.state_dir).get("land_parcels").extra[STATE_KEY]["lsn"])
    assert _slot_position(db) < saved
    again = pipeline.run_dataset(spec, settings, use_gx=False)
    assert again.extracted == 0 and _slot_position(db) == saved
    assert_mirrors(db, settings, land_data)


def test_an_initial_load_killed_before_publishing_starts_over(cdc_db, land_data, settings):
    db, spec = cdc_db, _spec(cdc_db)
    killed = pipeline.extract(spec, settings)  # the slot is created, nothing is published
    assert killed.row_count == len(land_data.parcels)
    (updated,) = _clean(db, land_data, 1)
    db.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
               "updated_at = now() WHERE parcel_id = %s", (updated,))
    first = pipeline.run_dataset(spec, settings, use_gx=False)
    assert first.extracted == len(land_data.parcels)  # a new snapshot, with the update
    assert_mirrors(db, settings, land_data)
    assert pipeline.run_dataset(spec, settings, use_gx=False).extracted == 0


def test_a_truncated_table_fails_the_run_clearly(cdc_db, land_data, settings):
    db, spec = cdc_db, _spec(cdc_db)
    pipeline.run_dataset(spec, settings, use_gx=False)
    db.execute("TRUNCATE parcels")
    with pytest.raises(ConnectorError, match="the table was truncated"):
        pipeline.run_dataset(spec, settings, use_gx=False)


def test_reconcile_of_a_log_based_dataset_reads_the_table_not_the_slot(cdc_db, land_data,
                                                                        settings):
    from warehouse.reconcile import reconcile

    db, spec = cdc_db, _spec(cdc_db)
    pipeline.run_dataset(spec, settings, use_gx=False)
    (changed,) = _clean(db, land_data, 1)
    db.execute("UPDATE parcels SET area_m2 = area_m2 + 1 WHERE parcel_id = %s", (changed,))
    position = _slot_position(db)
    result = reconcile(spec, settings)
    assert result.source_rows == len(land_data.parcels) and result.updated == 1
    assert _slot_position(db) == position  # the slot untouched: the change still comes once
    assert_mirrors(db, settings, land_data)
    assert pipeline.run_dataset(spec, settings, use_gx=False).extracted == 1
    assert_mirrors(db, settings, land_data)
