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


def build_reconcile_dag(spec: DatasetSpec) -> Any:
    """`lgsp_<id>_reconcile`, on the schedule of `source.params.reconcile`: the full compare
    of source and curated that repairs drift (warehouse/reconcile.py)."""
    from airflow.sdk import DAG, task
    from airflow.sdk.exceptions import AirflowFailException

    with DAG(
        dag_id=f"lgsp_{spec.id}_reconcile",
        description=f"Reconciliation: {spec.title.en}",
        schedule=str(spec.source.params["reconcile"]),
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["lgsp", "reconcile", f"dataset:{spec.id}"],
        default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    ) as dag:

        @task(task_id="reconcile", outlets=[_asset(spec.id)])
        def reconcile() -> dict[str, Any]:
            from dataclasses import asdict

            from warehouse.reconcile import ReconcileBlocked
            from warehouse.reconcile import reconcile as run

            try:
                return asdict(run(spec, Settings.from_env()))
            except ReconcileBlocked as exc:
                raise AirflowFailException(str(exc)) from exc

        reconcile()
    return dag


def build_dags(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    dags = {}
    for spec in load_specs(settings.specs_dir):
        dags[f"lgsp_{spec.id}"] = build_dag(spec)
        if spec.source.params.get("reconcile"):
            dags[f"lgsp_{spec.id}_reconcile"] = build_reconcile_dag(spec)
    return dags
