"""The three stages of a dataset's pipeline, as plain functions: extract, validate, publish.

Airflow tasks and the `lgsp run` command call exactly these, passing paths between stages
(never data): extract returns the raw run folder, validate the staging folder with the
gate's result, publish the Iceberg snapshot it committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from catalog.spec import DatasetSpec
from connectors.base import Window
from connectors.registry import build_connector
from connectors.safe_window import lagged_since, source_lag
from connectors.state import StateStore
from expectations.gate import GATE_FILE, GateResult, run_gate, staging_dir, write_data_docs
from lgsp.config import Settings
from warehouse.publish import PublishResult, publish
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
    quality_score: float
    blocked: bool
    block_reasons: list[str]
    seconds: float


def extract(spec: DatasetSpec, settings: Settings, run_id: str | None = None,
            until: datetime | None = None, progress: Progress | None = None) -> RawRun:
    """Pull the window after the dataset's watermark into a new raw run."""
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
    try:
        for batch in connector.extract(window, state):
            writer.write(batch)
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
    return run_gate(spec, RawRun.load(run_path), settings, use_gx=use_gx)


def data_docs(settings: Settings, runs: list[tuple[str, str]]) -> str | None:
    """Render GX Data Docs for the gate results of these (dataset, run id) pairs in one
    build; runs the gate never reached are skipped. Returns the index URL."""
    dirs = [staging_dir(settings, dataset, run_id) for dataset, run_id in runs]
    gates = [GateResult.load(d) for d in dirs if (d / GATE_FILE).exists()]
    return write_data_docs(settings, gates)


def publish_run(spec: DatasetSpec, run_path: str | Path, settings: Settings) -> PublishResult:
    run = RawRun.load(run_path)
    gate = GateResult.load(staging_dir(settings, spec.id, run.run_id))
    return publish(spec, run, gate, settings)


def run_dataset(spec: DatasetSpec, settings: Settings, progress: Progress | None = None,
                run_id: str | None = None, use_gx: bool = True,
                until: datetime | None = None) -> RunSummary:
    """Extract, validate and publish one dataset; a blocked gate publishes nothing.
    `until` closes the extraction window (default: now), like Airflow's data interval end."""
    started = datetime.now(UTC)
    run = extract(spec, settings, run_id=run_id, progress=progress, until=until)
    gate = run_gate(spec, run, settings, use_gx=use_gx)
    total = 0
    if not gate.blocked:
        total = publish(spec, run, gate, settings).curated_rows_total
    return RunSummary(
        dataset=spec.id, run_id=run.run_id, extracted=run.row_count,
        quarantined=gate.quarantined_rows, published=0 if gate.blocked else gate.curated_rows,
        total_rows=total, quality_score=gate.quality_score, blocked=gate.blocked,
        block_reasons=gate.block_reasons,
        seconds=(datetime.now(UTC) - started).total_seconds(),
    )
