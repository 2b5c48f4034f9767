"""Reconciliation (issue 11): drift that no incremental read can see (a row restored with its
original timestamp, a deletion-log row written long after the deletion, a change stamped
behind the watermark, a source without a deletion log) is found by the full compare,
repaired and counted; `lgsp status` and `lgsp quality` show the counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from lgsp import pipeline
from lgsp.cli import app
from tests.land.conftest import LOADED, spec_for
from tests.land.test_no_change_lost import _clean, _curated, _delete, _stamp, assert_mirrors
from warehouse.reconcile import reconcile


def test_reconcile_repairs_what_incremental_reads_miss_and_reports_it(db, land_data, settings):
    spec = spec_for("land_parcels", db, batch_rows=250)
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    restored, late_deleted, stale, bad = _clean(db, land_data, 4)
    with db.connect() as con, con.cursor() as cur:
        cur.execute("CREATE TABLE kept AS SELECT * FROM parcels WHERE parcel_id = %s", (restored,))
        _delete(cur, restored, "%s", (_stamp(db, LOADED + timedelta(hours=1)),))
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=1))
    assert restored not in _curated(settings)
    with db.connect() as con, con.cursor() as cur:
        cur.execute("INSERT INTO parcels SELECT * FROM kept")  # restored as it was
        cur.execute("DROP TABLE kept")
        # deleted, the deletion-log row carrying a time long behind the watermark
        _delete(cur, late_deleted, "%s", (_stamp(db, LOADED - timedelta(days=3)),))
        cur.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024' "
                    "WHERE parcel_id = %s", (stale,))  # changed, its timestamp left as it was
        cur.execute("UPDATE parcels SET land_use_code = 'XYZ' WHERE parcel_id = %s", (bad,))
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=2))
    before = _curated(settings)
    assert restored not in before and late_deleted in before and before[stale][0] != "ODT"

    result = reconcile(spec, settings)
    assert (result.inserted, result.updated, result.removed) == (1, 1, 1)
    assert result.kept_quarantined == 1  # the defective row keeps its last good version
    assert_mirrors(db, settings, land_data, held=frozenset({bad}))
    assert _curated(settings)[bad] == before[bad]
    again = reconcile(spec, settings)
    assert (again.inserted, again.updated, again.removed) == (0, 0, 0)

    # Shown per dataset by `lgsp status` and `lgsp quality`.
    runner = CliRunner()
    for command in (["status"], ["quality", "--lang", "en"]):
        out = runner.invoke(app, command, env={"COLUMNS": "300"}).output
        line = next(x for x in out.splitlines() if "land_parcels" in x)
        assert " +0 ~0 -0 " in line, out


def test_reconcile_is_the_deletion_fallback_of_a_source_without_a_deletion_log(db, land_data,
                                                                              settings):
    spec = spec_for("land_parcels", db, batch_rows=250, deletes=None)
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    gone = _clean(db, land_data, 3)
    for key in gone:
        db.execute("DELETE FROM parcels WHERE parcel_id = %s", (key,))
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=1))
    assert set(gone) <= set(_curated(settings))  # no deletion log: incremental reads keep ghosts
    result = reconcile(spec, settings)
    assert (result.inserted, result.updated, result.removed) == (0, 0, 3)
    assert_mirrors(db, settings, land_data)


def test_a_publish_during_reconciliation_makes_it_repair_nothing(pg, land_data, settings,
                                                                monkeypatch):
    """The read is older than a run published meanwhile: committing it would undo that run."""
    import warehouse.reconcile as module
    from expectations import gate as gate_module

    spec = spec_for("land_parcels", pg, batch_rows=250)
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    updated, ghost = _clean(pg, land_data, 2)
    pg.execute("DELETE FROM parcels WHERE parcel_id = %s", (ghost,))  # drift to repair

    def gate_then_publish(*args, **kwargs):  # an incremental run publishes meanwhile
        result = gate_module.run_gate(*args, **kwargs)
        pg.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
                   "updated_at = %s WHERE parcel_id = %s", (LOADED + timedelta(hours=1), updated))
        pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=1))
        return result

    monkeypatch.setattr(module, "run_gate", gate_then_publish)
    with pytest.raises(module.ReconcileBlocked, match="published during reconciliation"):
        reconcile(spec, settings)
    curated = _curated(settings)
    assert curated[updated][0] == "ODT" and ghost in curated  # the run kept; nothing repaired


def test_reconcile_dag_runs_on_its_schedule_with_airflow(pg, land_data, settings, monkeypatch):
    """The spec's `reconcile: "@weekly"` gives lgsp_land_parcels_reconcile; a real dag.test()
    of it removes a ghost and records the counts."""
    from lgsp import airflow_env
    from lgsp.dag_factory import reconcile_dag_from_spec_file
    from warehouse.reconcile import last_reconciliation

    dag = reconcile_dag_from_spec_file(settings.specs_dir / "land_parcels.yaml")
    assert dag.dag_id == "lgsp_land_parcels_reconcile"
    assert [t.task_id for t in dag.tasks] == ["reconcile"]
    assert dag.schedule == "@weekly"
    monkeypatch.setenv("LGSP_LAND_DSN", pg.dsn)
    spec = spec_for("land_parcels", pg)
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    (ghost,) = _clean(pg, land_data, 1)
    pg.execute("DELETE FROM parcels WHERE parcel_id = %s", (ghost,))  # no deletion-log row
    airflow_env.migrate(settings)
    result = airflow_env.dag_test(settings, "lgsp_land_parcels_reconcile", timeout=900)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert ghost not in _curated(settings)
    last = last_reconciliation(settings, "land_parcels")
    assert last is not None and (last["inserted"], last["updated"], last["removed"]) == (0, 0, 1)
