"""A real Airflow run of the population DAG with dag.test() on the embedded defaults
(SQLite metadata), against the real simulated registry: tasks succeed, the curated table is
published, and the publish recorded an event on the dataset's Asset."""

from __future__ import annotations

import os
import sqlite3

from lgsp import airflow_env
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
