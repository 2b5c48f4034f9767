"""Airflow DAGs derived from dataset specs: one DAG per spec (each from its own generated DAG
file, lgsp.dag_files), extract -> validate -> publish, and validate -> data_docs (the GX
report, rendered whether the gate passed or blocked; a report that fails is skipped with its
error, so it never fails a published run).

Parse-time work is reading the YAML specs only: no database, no network, no heavy imports
(pyarrow, duckdb, pyiceberg and GX load inside the tasks). Tasks pass paths through XCom.
Each publish updates an Asset named after the curated table, so downstream DAGs (linking,
exports, indicators) can be scheduled on it.

One DAG run holds the dataset's run lock (warehouse/run_lock.py) from extract to publish:
the window and file ledger read at extract are committed at publish, so no other run of the
dataset (another DAG run, `lgsp run` on any host sharing the catalog) may extract or publish
in between. Extract acquires it, validate and publish resume it, the `release_lock`
teardown frees it however the run ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from catalog.spec import DatasetSpec, load_spec
from lgsp.config import Settings


def curated_asset_uri(dataset_id: str) -> str:
    return f"lgsp://curated/{dataset_id}"


EXTRACT_GRACE = timedelta(minutes=5)
"""The extract task's timeout is the spec's run deadline plus this: the connector's own
deadline fires first, with a message naming the source and the limit."""


RELEASE_LOCK_TIMEOUT = timedelta(minutes=5)
"""The teardown that frees the run lock is one UPDATE in the catalog database."""


def task_timeouts(spec: DatasetSpec) -> dict[str, timedelta]:
    """Airflow `execution_timeout` per task, from the spec's `source.limits.run_seconds`:
    no task of a dataset's DAG may hang (a registry sending a byte a second, a stuck
    database) longer than a whole extract may take."""
    run = timedelta(seconds=spec.source.limits.run_seconds)
    return {"extract": run + EXTRACT_GRACE, "validate": run, "publish": run, "data_docs": run,
            "release_lock": RELEASE_LOCK_TIMEOUT}


def _asset(dataset_id: str) -> Any:
    from airflow.sdk import Asset

    return Asset(name=f"curated.{dataset_id}", uri=curated_asset_uri(dataset_id))


def build_dag(spec: DatasetSpec) -> Any:
    from airflow.sdk import DAG, task, teardown
    from airflow.sdk.exceptions import AirflowFailException

    asset = _asset(spec.id)
    timeouts = task_timeouts(spec)
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

        @task(task_id="extract", execution_timeout=timeouts["extract"])
        def extract(**context: Any) -> str:
            from lgsp import pipeline
            from warehouse import run_lock
            from warehouse.raw_zone import sanitize_run_id

            settings = Settings.from_env()
            run_id = sanitize_run_id(context["run_id"])
            with run_lock.task_step(settings, spec.id, _lock_owner(context), first=True,
                                    run_id=run_id):
                run = pipeline.extract(
                    spec, settings, run_id=run_id,
                    until=context.get("data_interval_end") if context.get("dag_run")
                    and context["dag_run"].run_type == "scheduled" else None,
                )
            return str(run.path)

        @task(task_id="validate", execution_timeout=timeouts["validate"])
        def validate(run_path: str, **context: Any) -> str:
            from lgsp import pipeline
            from warehouse import run_lock

            settings = Settings.from_env()
            with run_lock.task_step(settings, spec.id, _lock_owner(context), first=False):
                gate = pipeline.validate(spec, run_path, settings)
            if gate.blocked:
                raise AirflowFailException(
                    f"quality gate blocked {spec.id}: " + "; ".join(gate.block_reasons)
                )
            return gate.staging_dir

        @task(task_id="publish", outlets=[asset], execution_timeout=timeouts["publish"])
        def publish(run_path: str, staging: str, **context: Any) -> dict[str, Any]:
            """Publish the gated run. A refused publish fails at once (a retry would be
            refused the same way); an incremental run with nothing new ends skipped, so the
            Asset gets no event and the DAGs scheduled on it do not run for nothing."""
            from dataclasses import asdict

            from airflow.sdk.exceptions import AirflowSkipException

            from lgsp import attempts, pipeline
            from warehouse import run_lock
            from warehouse.publish import PublishBlocked

            settings = Settings.from_env()
            with run_lock.task_step(settings, spec.id, _lock_owner(context), first=False):
                try:
                    result = pipeline.publish_run(spec, run_path, settings)
                except PublishBlocked as exc:
                    raise AirflowFailException(f"publish of {spec.id} refused: {exc}") from exc
            if pipeline.run_outcome(spec, run_path, settings) == attempts.NO_CHANGES:
                raise AirflowSkipException(
                    f"no changes: {result.curated_rows_total:,} rows in {spec.id} stay as they were")
            return asdict(result)

        @teardown
        def release_lock(**context: Any) -> bool:
            """Free the dataset's run lock this DAG run holds, however its tasks ended."""
            from warehouse import run_lock

            return run_lock.release(Settings.from_env(), spec.id, _lock_owner(context))

        @task(task_id="data_docs", trigger_rule="all_done_min_one_success",
              execution_timeout=timeouts["data_docs"])
        def data_docs(run_path: str) -> str | None:
            """GX Data Docs for this run, blocked or not; never holds up the publish. A report
            that fails is skipped with its error (logged, and noted on the attempt for `lgsp
            status`): it never turns a published run into a failed one."""
            from airflow.sdk.exceptions import AirflowSkipException

            from lgsp import pipeline
            from warehouse.raw_zone import RawRun

            run_id = RawRun.load(run_path).run_id
            url, error = pipeline.report_data_docs(Settings.from_env(), [(spec.id, run_id)])
            if error:
                raise AirflowSkipException(error)
            return url

        run_path = extract()
        gate = validate(run_path)
        published = publish(run_path, gate)
        gate >> data_docs(run_path)
        # a teardown: runs however publish ended
        published >> release_lock.override(execution_timeout=timeouts["release_lock"])()
    return dag


def _lock_owner(context: dict[str, Any]) -> str:
    """The run lock's owner for every task of one DAG run."""
    from warehouse.run_lock import airflow_owner

    return airflow_owner(context["dag"].dag_id, context["run_id"])


def dag_from_spec_file(path: str | Path) -> Any:
    """The DAG of one spec file (what each generated DAG file calls, see lgsp.dag_files).
    A spec that does not load raises SpecError naming the file, key path and problem:
    Airflow records it as that DAG file's import error; the other DAGs are not affected."""
    return build_dag(load_spec(path))


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


def opendata_dag_from_spec_file(path: str | Path) -> Any | None:
    """The open-data DAG of one spec file (catalogue, exports, indicators after each publish),
    or None when the dataset feeds no open data (neither open itself nor an indicator's
    source). Built in the same generated DAG file as the dataset's own DAG."""
    from opendata.indicator_files import indicator_sources

    spec = load_spec(path)
    if spec.open_data or spec.id in indicator_sources():
        return build_opendata_dag(spec)
    return None


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


def reconcile_dag_from_spec_file(path: str | Path) -> Any | None:
    """The reconciliation DAG of one spec file, or None without `source.params.reconcile`.
    Built in the same generated DAG file as the dataset's own DAG."""
    spec = load_spec(path)
    return build_reconcile_dag(spec) if spec.source.params.get("reconcile") else None
