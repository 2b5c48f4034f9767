"""Real Airflow runs of the daily DAGs with dag.test() on the embedded defaults (SQLite
metadata), against the real simulated registries: tasks succeed, the curated table is
published, and the publish recorded an event on the dataset's Asset. The next day's run
succeeds too: with nothing new it keeps the table ("no changes"); with changes at the
registry it publishes exactly them, even when its Data Docs cannot be rendered (the report
task is skipped with its error, the run stands)."""

from __future__ import annotations

import os
import shutil
import sqlite3

from lgsp import airflow_env, attempts
from tests.data_docs import validation_pages
from tests.pipeline.conftest import TOKEN
from warehouse.query import curated_connection


def test_dag_test_runs_extract_validate_publish(env, registry, monkeypatch):
    settings = env
    airflow_env.migrate(settings)
    monkeypatch.setenv("LGSP_POPULATION_URL", registry.base_url)
    monkeypatch.setenv("LGSP_POPULATION_TOKEN", TOKEN)
    result = airflow_env.dag_test(settings, "lgsp_population", timeout=900)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert "state=success" in result.stdout
    rows = curated_connection(settings).execute("SELECT count(*) FROM population").fetchone()[0]
    assert rows > 0
    db = settings.airflow_home / "airflow.db"
    with sqlite3.connect(db) as con:
        events = con.execute(
            "SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri = 'lgsp://curated/population'"
        ).fetchone()[0]
        states = dict(con.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'lgsp_population'"
        ).fetchall())
    assert events == 1
    assert states == {"extract": "success", "validate": "success", "publish": "success",
                      "data_docs": "success", "release_lock": "success"}
    # The data_docs task rendered GX's report of this run.
    _, pages = validation_pages(settings.home)
    assert pages
    assert os.environ["LGSP_POPULATION_URL"] == registry.base_url

    # The next daily run: nothing new at the registry. A success that keeps the table.
    again = airflow_env.dag_test(settings, "lgsp_population", timeout=900)
    assert again.returncode == 0, (again.stdout[-3000:], again.stderr[-3000:])
    assert "state=success" in again.stdout
    # publish skipped ("no changes"): no Asset event, so no downstream DAG runs for nothing
    assert _last_run_states(db, "lgsp_population") == {
        "extract": "success", "validate": "success", "publish": "skipped",
        "data_docs": "success", "release_lock": "success"}
    assert curated_connection(settings).execute(
        "SELECT count(*) FROM population").fetchone()[0] == rows
    assert _asset_events(db, "lgsp://curated/population") == 1
    last = attempts.last(settings, "population")
    assert last.outcome == "no changes" and last.stage == "publish"


def _asset_events(db, uri: str) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                           "WHERE a.uri = ?", (uri,)).fetchone()[0]


def _last_run_states(db, dag_id: str) -> dict[str, str]:
    with sqlite3.connect(db) as con:
        (run_id,) = con.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC "
                                "LIMIT 1", (dag_id,)).fetchone()
        return dict(con.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? "
                                "AND run_id = ?", (dag_id, run_id)).fetchall())


def test_the_next_run_publishes_the_changes_even_when_its_report_fails(settings, monkeypatch):
    from tests.insurance.conftest import Admin, point_at, start_registry

    airflow_env.migrate(settings)
    db = settings.airflow_home / "airflow.db"
    with start_registry() as registry:
        point_at(monkeypatch, registry.base_url)
        first = airflow_env.dag_test(settings, "lgsp_insurance_members", timeout=900)
        assert first.returncode == 0, (first.stdout[-3000:], first.stderr[-3000:])
        rows = curated_connection(settings).execute(
            "SELECT count(*) FROM insurance_members").fetchone()[0]
        assert rows > 2000

        change = Admin(registry.base_url).advance(renewals=12, enrolments=5)
        assert change["changed"] == 17
        site = settings.quality_dir / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"
        shutil.rmtree(site)
        site.write_text("a file where GX writes its site: the report cannot be built")
        second = airflow_env.dag_test(settings, "lgsp_insurance_members", timeout=900)
    assert second.returncode == 0, (second.stdout[-3000:], second.stderr[-3000:])
    assert "state=success" in second.stdout
    assert _last_run_states(db, "lgsp_insurance_members") == {
        "extract": "success", "validate": "success", "publish": "success",
        "data_docs": "skipped", "release_lock": "success"}
    assert _asset_events(db, "lgsp://curated/insurance_members") == 2
    con = curated_connection(settings)
    assert con.execute("SELECT count(*) FROM insurance_members").fetchone()[0] == rows + 5
    last = attempts.last(settings, "insurance_members")
    assert last.outcome == "published" and "17 rows published" in last.message
    assert last.report_error and "GX Data Docs not rendered" in last.report_error
