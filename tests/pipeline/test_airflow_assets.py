"""Downstream DAGs run on Airflow Assets: a derived dataset's DAG is scheduled on its inputs'
Assets, so when a producer DAG publishes, Airflow queues the consumer. dag.test() records the
producer's asset event but never starts consumers, so the consumer is run separately and its
result checked. A new derived spec file is all it takes."""

from __future__ import annotations

import shutil
import sqlite3
import textwrap

from catalog.spec import DATASETS_DIR
from lgsp import airflow_env
from lgsp.config import Settings
from tests.pipeline.conftest import TOKEN
from warehouse.query import curated_connection

CONSUMER = textwrap.dedent(
    """
    id: population_by_commune
    title: {vi: Dân số theo xã, en: Population by commune}
    description: {vi: Số người theo xã cư trú, en: People per commune of residence}
    owner:
      agency: {vi: Trung tâm Dữ liệu tỉnh, en: Provincial Data Centre}
    source:
      connector: derived
      incremental: false
      inputs: [population]
      params:
        sql: >-
          SELECT residence_commune_code AS commune_code, count(*) AS people
          FROM {population} GROUP BY 1
    schedule: null
    update_frequency: on input change
    licence: CC-BY-4.0
    open_data: true
    primary_key: [commune_code]
    columns:
      - {name: commune_code, description: {vi: Mã xã, en: Commune code}, classification: public,
         required: true}
      - {name: people, type: int, description: {vi: Số người, en: People},
         classification: public}
    """
)


def test_publishing_an_input_queues_the_derived_dag_which_then_publishes(
        tmp_path, registry, monkeypatch):
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(DATASETS_DIR / "population.yaml", specs)
    (specs / "population_by_commune.yaml").write_text(CONSUMER, "utf-8")
    settings = Settings(home=tmp_path / "home", specs_dir=specs)
    monkeypatch.setenv("LGSP_HOME", str(settings.home))
    monkeypatch.setenv("LGSP_SPECS_DIR", str(specs))
    monkeypatch.setenv("LGSP_POPULATION_URL", registry.base_url)
    monkeypatch.setenv("LGSP_POPULATION_TOKEN", TOKEN)
    airflow_env.migrate(settings)
    airflow_env.sync_dags(settings)
    db = settings.airflow_home / "airflow.db"

    def queued() -> list[str]:
        with sqlite3.connect(db) as con:
            return [r[0] for r in con.execute("SELECT target_dag_id FROM asset_dag_run_queue")]

    assert queued() == []
    producer = airflow_env.dag_test(settings, "lgsp_population", timeout=900)
    assert producer.returncode == 0, producer.stderr[-3000:]
    # the derived dataset, and the population's open indicators (lgsp_opendata_population)
    assert sorted(queued()) == ["lgsp_opendata_population", "lgsp_population_by_commune"]

    consumer = airflow_env.dag_test(settings, "lgsp_population_by_commune", timeout=900)
    assert consumer.returncode == 0, (consumer.stdout[-3000:], consumer.stderr[-3000:])
    con = curated_connection(settings)
    total = con.execute("SELECT count(*) FROM population").fetchone()[0]
    by_commune = con.execute(
        "SELECT sum(people), count(*) FROM population_by_commune").fetchone()
    direct = con.execute(
        "SELECT count(DISTINCT residence_commune_code) FROM population").fetchone()[0]
    assert by_commune == (total, direct)
