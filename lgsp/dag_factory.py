"""Airflow DAGs derived from dataset specs: one DAG per spec, extract -> validate -> publish,
and validate -> data_docs (the GX report, rendered whether the gate passed or blocked).

Parse-time work is reading the YAML specs only: no database, no network, no heavy imports
(pyarrow, duckdb, pyiceberg and GX load inside the tasks). Tasks pass paths through XCom.
Each publish updates an Asset named after the curated table, so downstream DAGs (linking,
exports, indicators) can be scheduled on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from catalog.spec import DatasetSpec, load_specs
from lgsp.config import Settings


def curated_asset_uri(dataset_id: str) -> str:
    return f"lgsp://curated/{dataset_id}"


def _asset(dataset_id: str) -> Any:
    from airflow.sdk import Asset

    return Asset(name=f"curated.{dataset_id}", uri=curated_asset_uri(dataset_id))


def build_dag(spec: DatasetSpec) -> Any:
    from airflow.sdk import DAG, task
    from airflow.sdk.exceptions import AirflowFailException

    asset = _asset(spec.id)
    schedule: Any = spec.schedule
    if spec.source.inputs:
        # Derived datasets run when any of their inputs publishes.
        from airflow.sdk import AssetAny

        schedule = AssetAny(*(_asset(name) for name in spec.source.inputs))
    doc = (f"**{spec.title.en}** ({spec.title.vi})\n\nOwner: {spec.owner.agency.en}. "
           f"Source: `{spec.source.connector}`. Spec: `{spec.path}`.")
    with DAG(
        dag_id=f"lgsp_{spec.id}",
        description=spec.title.en,
        schedule=schedule,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["lgsp", f"dataset:{spec.id}", f"connector:{spec.source.connector}"],
        default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
        doc_md=doc,
    ) as dag:

        @task(task_id="extract")
        def extract(**context: Any) -> str:
            from lgsp import pipeline
            from warehouse.raw_zone import sanitize_run_id

            settings = Settings.from_env()
            run = pipeline.extract(
                spec, settings, run_id=sanitize_run_id(context["run_id"]),
                until=context.get("data_interval_end") if context.get("dag_run")
                and context["dag_run"].run_type == "scheduled" else None,
            )
            return str(run.path)

        @task(task_id="validate")
        def validate(run_path: str) -> str:
            from lgsp import pipeline

            gate = pipeline.validate(spec, run_path, Settings.from_env())
            if gate.blocked:
                raise AirflowFailException(
                    f"quality gate blocked {spec.id}: " + "; ".join(gate.block_reasons)
                )
            return gate.staging_dir

        @task(task_id="publish", outlets=[asset])
        def publish(run_path: str, staging: str) -> dict[str, Any]:
            from dataclasses import asdict

            from lgsp import pipeline

            return asdict(pipeline.publish_run(spec, run_path, Settings.from_env()))

        @task(task_id="data_docs", trigger_rule="all_done_min_one_success")
        def data_docs(run_path: str) -> str | None:
            """GX Data Docs for this run, blocked or not; never holds up the publish."""
            from lgsp import pipeline
            from warehouse.raw_zone import RawRun

            run_id = RawRun.load(run_path).run_id
            return pipeline.data_docs(Settings.from_env(), [(spec.id, run_id)])

        run_path = extract()
        gate = validate(run_path)
        publish(run_path, gate)
        gate >> data_docs(run_path)
    return dag


def build_opendata_dag(spec: DatasetSpec) -> Any:
    """Catalogue, open-data exports and open indicators of one dataset, run when its curated
    Asset is updated (each publish)."""
    from airflow.sdk import DAG, task

    with DAG(
        dag_id=f"lgsp_opendata_{spec.id}",
        description=f"Open-data exports: {spec.title.en}",
        schedule=[_asset(spec.id)],
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["lgsp", "opendata", f"dataset:{spec.id}"],
        default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
        doc_md=f"Exports of **{spec.title.en}** in every format, after each publish.",
    ) as dag:

        @task(task_id="export")
        def export() -> dict[str, Any]:
            from dataclasses import asdict

            from airflow.sdk.exceptions import AirflowFailException

            from catalog.spec import get_spec
            from opendata.refresh import refresh_after_publish

            settings = Settings.from_env()
            outcomes = refresh_after_publish(get_spec(spec.id, settings.specs_dir), settings)
            refused = [o.message for o in outcomes if o.status == "refused"]
            if refused:
                raise AirflowFailException("; ".join(refused))  # retrying cannot fix a spec
            return {"outcomes": [asdict(o) for o in outcomes]}

        export()
    return dag


def build_dags(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    specs = load_specs(settings.specs_dir)
    dags = {f"lgsp_{spec.id}": build_dag(spec) for spec in specs}
    from opendata.indicator_files import indicator_sources

    sources = indicator_sources()
    dags.update({f"lgsp_opendata_{spec.id}": build_opendata_dag(spec)
                 for spec in specs if spec.open_data or spec.id in sources})
    return dags
