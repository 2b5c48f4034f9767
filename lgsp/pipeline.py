"""The three stages of a dataset's pipeline, as plain functions: extract, validate, publish.

Airflow tasks and the `lgsp run` command call exactly these, passing paths between stages
(never data): extract returns the raw run folder, validate the staging folder with the
gate's result, publish the Iceberg snapshot it committed. Each stage records its outcome as
the dataset's last attempt (`lgsp.attempts`: published, no changes, blocked, failed), and the
report step (`report_data_docs`) never turns a published run into a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from catalog.spec import DatasetSpec
from connectors.base import Window
from connectors.limits import Deadline, check_batch, source_name
from connectors.registry import build_connector
from connectors.safe_window import lagged_since, source_lag
from connectors.state import StateStore
from expectations.gate import GATE_FILE, GateResult, run_gate, staging_dir, write_data_docs
from lgsp import attempts
from lgsp.config import Settings
from warehouse import iceberg, run_lock
from warehouse.publish import PublishBlocked, PublishResult, publish
from warehouse.raw_zone import RawRun, RawRunWriter, new_run_id, remove_stale_temporaries

log = logging.getLogger(__name__)
Progress = Callable[[int], None]


@dataclass
class RunSummary:
    dataset: str
    run_id: str
    extracted: int
    quarantined: int
    published: int
    total_rows: int
    quality_score: float | None
    """None for a run without rows ("no rows")."""
    blocked: bool
    block_reasons: list[str]
    seconds: float
    outcome: str = attempts.PUBLISHED
    """blocked, "no changes" (an incremental window with nothing new: the table stays) or
    published."""


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def extract(spec: DatasetSpec, settings: Settings, run_id: str | None = None,
            until: datetime | None = None, progress: Progress | None = None) -> RawRun:
    """Pull the window after the dataset's watermark into a new raw run."""
    try:
        return _extract(spec, settings, run_id, until, progress)
    except Exception as exc:
        attempts.record(settings, spec.id, run_id, attempts.FAILED, "extract", _error(exc))
        raise


def _extract(spec: DatasetSpec, settings: Settings, run_id: str | None,
             until: datetime | None, progress: Progress | None) -> RawRun:
    if run_id and (settings.raw_dir / spec.id / run_id / "_manifest.json").exists():
        return RawRun.load(settings.raw_dir / spec.id / run_id)  # a retried task: reuse
    state = StateStore(settings.state_dir).get(spec.id)
    window = Window(  # re-read `lag` before the watermark (connectors/safe_window.py)
        since=(lagged_since(state.watermark, source_lag(spec.source.params, spec.id))
               if spec.source.incremental else None),
        until=until or datetime.now(UTC),
    )
    for stale in remove_stale_temporaries(settings.raw_dir, spec.id):
        log.warning("removed the unfinished raw run %s (an earlier extract was interrupted)", stale)
    connector = build_connector(spec)
    writer = RawRunWriter(
        root=settings.raw_dir, dataset=spec.id, run_id=run_id or new_run_id(),
        source=connector.describe(), window=window.as_dict(),
    )
    limits = spec.source.limits
    deadline = Deadline(limits.run_seconds, "source.limits.run_seconds")
    source = source_name(spec, writer.source)
    rows = 0
    try:
        for batch in connector.extract(window, state):
            check_batch(batch, limits, source, rows)
            deadline.check(f"{source}: the extract")
            writer.write(batch)
            rows += batch.num_rows
            if progress:
                progress(batch.num_rows)
    except BaseException:
        writer.abort()
        raise
    writer.source = connector.describe()  # as it ended: files read, pages, tombstones
    if getattr(connector, "window", None) is not None:  # `until` lowered to the safe bound
        writer.window = connector.window.as_dict()  # type: ignore[attr-defined]
    return writer.commit(
        schema_drift=connector.drift.as_dict(),
        state_update=connector.pending_state(),
        requests={"pages": getattr(connector, "pages", None),
                  "attempts": getattr(connector, "attempts", None),
                  "retries": getattr(connector, "retries", [])},
    )


def validate(spec: DatasetSpec, run_path: str | Path, settings: Settings,
             use_gx: bool = True) -> GateResult:
    return gate_run(spec, RawRun.load(run_path), settings, use_gx=use_gx)


def gate_run(spec: DatasetSpec, run: RawRun, settings: Settings, use_gx: bool = True) -> GateResult:
    """The quality gate on a raw run; a blocked or failed gate is recorded as the attempt."""
    try:
        gate = run_gate(spec, run, settings, use_gx=use_gx)
    except Exception as exc:
        attempts.record(settings, spec.id, run.run_id, attempts.FAILED, "validate", _error(exc))
        raise
    if gate.blocked:
        attempts.record(settings, spec.id, run.run_id, attempts.BLOCKED, "validate",
                        "; ".join(gate.block_reasons))
    return gate


def data_docs(settings: Settings, runs: list[tuple[str, str]]) -> str | None:
    """Render GX Data Docs for the gate results of these (dataset, run id) pairs in one
    build; runs the gate never reached are skipped. Returns the index URL."""
    dirs = [staging_dir(settings, dataset, run_id) for dataset, run_id in runs]
    gates = [GateResult.load(d) for d in dirs if (d / GATE_FILE).exists()]
    return write_data_docs(settings, gates)


def report_data_docs(settings: Settings, runs: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    """`data_docs` as a report step after the runs: (index URL, None), or (None, error) when
    rendering failed. The error is logged and noted on each run's attempt, apart from its
    outcome: a report never turns a published run into a failure."""
    try:
        return data_docs(settings, runs), None
    except Exception as exc:  # noqa: BLE001 - reported apart, see above
        message = f"GX Data Docs not rendered: {_error(exc)}"
        log.error("%s", message, exc_info=True)
        for dataset, run_id in runs:
            attempts.record_report_error(settings, dataset, run_id, message)
        return None, message


def publish_run(spec: DatasetSpec, run_path: str | Path, settings: Settings) -> PublishResult:
    run = RawRun.load(run_path)
    gate = GateResult.load(staging_dir(settings, spec.id, run.run_id))
    return publish_gated(spec, run, gate, settings)


def run_outcome(spec: DatasetSpec, run_path: str | Path, settings: Settings) -> str:
    """The outcome a gated run's publish records: published, "no changes" or blocked."""
    run = RawRun.load(run_path)
    return _outcome(spec, GateResult.load(staging_dir(settings, spec.id, run.run_id)))


def publish_gated(spec: DatasetSpec, run: RawRun, gate: GateResult,
                  settings: Settings) -> PublishResult:
    """Publish a gated run and record the attempt: published, or "no changes" when an
    incremental window was empty (the table stays, the watermark moves)."""
    try:
        result = publish(spec, run, gate, settings)
    except Exception as exc:
        outcome = attempts.BLOCKED if isinstance(exc, PublishBlocked) else attempts.FAILED
        attempts.record(settings, spec.id, run.run_id, outcome, "publish", _error(exc))
        raise
    attempts.record(settings, spec.id, run.run_id, _outcome(spec, gate), "publish",
                    f"{result.published_rows:,} rows published, {result.quarantined_rows:,} "
                    f"quarantined; {result.curated_rows_total:,} rows in the table")
    return result


def _outcome(spec: DatasetSpec, gate: GateResult) -> str:
    if gate.blocked:
        return attempts.BLOCKED
    if gate.raw_rows == 0 and spec.source.incremental:
        return attempts.NO_CHANGES
    return attempts.PUBLISHED


def run_dataset(spec: DatasetSpec, settings: Settings, progress: Progress | None = None,
                run_id: str | None = None, use_gx: bool = True,
                until: datetime | None = None) -> RunSummary:
    """Extract, validate and publish one dataset; a blocked gate publishes nothing.
    `until` closes the extraction window (default: now), like Airflow's data interval end.
    The whole run holds the dataset's run lock (warehouse/run_lock.py): a second run of the
    same dataset waits `settings.run_lock_wait` seconds, then raises `DatasetLocked`."""
    started = datetime.now(UTC)
    run_id = run_id or new_run_id()
    with run_lock.held(settings, spec.id, owner=f"lgsp run {run_id}", run_id=run_id) as lease:
        run = extract(spec, settings, run_id=run_id, progress=progress, until=until)
        gate = gate_run(spec, run, settings, use_gx=use_gx)
        if gate.blocked:  # the table as it stays
            total = iceberg.current_snapshot(settings, iceberg.CURATED, spec.id)[1]
        else:
            lease.check()  # still ours (not taken over after an expiry): publish
            total = publish_gated(spec, run, gate, settings).curated_rows_total
    return RunSummary(
        dataset=spec.id, run_id=run.run_id, extracted=run.row_count,
        quarantined=gate.quarantined_rows, published=0 if gate.blocked else gate.curated_rows,
        total_rows=total, quality_score=gate.quality_score, blocked=gate.blocked,
        block_reasons=gate.block_reasons,
        seconds=(datetime.now(UTC) - started).total_seconds(), outcome=_outcome(spec, gate),
    )
