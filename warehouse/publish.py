"""Publish a gated run: curated rows merged into the dataset's Iceberg table, quarantined
rows recorded, then the watermark advanced.

For a full-refresh dataset (`source.incremental: false`) the run is the whole dataset and
replaces the table. Otherwise the merge keeps, per primary key, the most recent record
(by the spec's `order_by`, then the newest run), so re-publishing a run or re-running a
window changes nothing and never duplicates. When there is nothing to merge with (a first
load or a full refresh), no deletions and no key twice, the gate's staged file already is
that table and is registered as it is, not rewritten. The quarantine holds one row per
(source record, reason): a record rejected again replaces its row (`_record_quarantine`).
Order of commits: curated, quarantine, watermark. A failure anywhere leaves the watermark
where it was; publishing the same run again is safe. Before anything is written, the staged
files are checked against the sha256 the gate recorded in gate.json (a changed or missing
file refuses the publish), and the table after the merge must hold at least the spec's
`min_rows`.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from catalog.spec import DatasetSpec
from connectors.state import StateStore
from expectations.gate import (
    CURATED_FILE,
    QUARANTINE_FILE,
    TOMBSTONES_FILE,
    GateResult,
    verify_staged,
)
from lgsp.config import Settings
from warehouse import duck, iceberg
from warehouse.curate import (
    INGESTED_COLUMN,
    RUN_COLUMN,
    curated_arrow_schema,
    quarantine_arrow_schema,
)
from warehouse.duck import quote_ident as q
from warehouse.raw_zone import RawRun


class PublishBlocked(RuntimeError):
    """The gate blocked this run; nothing was published."""


@dataclass
class PublishResult:
    dataset: str
    run_id: str
    curated_snapshot_id: int | None
    curated_rows_total: int
    published_rows: int
    quarantined_rows: int
    watermark: str | None


def _file_uuid() -> str:
    return uuid.uuid4().hex[:12]


def _merge_curated(spec: DatasetSpec, settings: Settings, gate: GateResult,
                   log_ordered: bool = False) -> tuple[int, int]:
    catalog = iceberg.load_catalog(settings)
    table = iceberg.ensure_table(catalog, iceberg.CURATED, spec.id, curated_arrow_schema(spec))
    staged = Path(gate.staging_dir) / CURATED_FILE
    schema = curated_arrow_schema(spec)
    columns = ", ".join(q(f.name) for f in schema)
    # A log-ordered run (connectors/pg_logical.py: one change per key, in commit order) is
    # newer than the table whatever its timestamps: the source's order decides, not the clock.
    order = f"{q(spec.order_by)} DESC NULLS LAST, " if spec.order_by and not log_ordered else ""

    def attempt() -> iceberg.Table:
        fresh = catalog.load_table((iceberg.CURATED, spec.id))
        current = [iceberg.local_path(p) for p in iceberg.data_files(fresh)]
        out_dir = iceberg.table_dir(fresh) / "data" / f"{gate.run_id}-{_file_uuid()}"
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        merging = bool(current) and spec.source.incremental
        parts = [f"SELECT {columns}, false AS _deleted, 1 AS _incoming "
                 f"FROM read_parquet('{staged}')"]
        if gate.deleted_rows:
            parts.append(f"SELECT {columns}, true AS _deleted, 1 AS _incoming "
                         f"FROM read_parquet('{Path(gate.staging_dir) / TOMBSTONES_FILE}')")
        sql = _merge_sql(columns, spec.primary_key, order, " UNION ALL ".join(parts),
                         _current_source(current, schema) if merging else None)
        try:
            if (not merging and gate.deleted_rows == 0 and gate.curated_rows
                    and _unique_keys(staged, spec.primary_key)):
                # A first load, or a full refresh, without deletions and with unique keys:
                # the staged file is the table the merge would write, so register a copy.
                out_dir.mkdir()
                shutil.copyfile(staged, out_dir / "part-0.parquet")
            elif gate.raw_rows:  # an empty full refresh (e.g. no gaps left) empties the table
                with duck.connection() as con:
                    con.execute(
                        f"COPY ({sql}) TO '{out_dir}' (FORMAT parquet, COMPRESSION zstd, "
                        f"FILE_SIZE_BYTES '256MB', FILENAME_PATTERN 'part-{{i}}')"
                    )
        except BaseException:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise
        new_files = sorted(str(p) for p in out_dir.glob("*.parquet"))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in new_files)
        if rows < spec.quality.min_rows:  # e.g. deletions emptied the table
            shutil.rmtree(out_dir, ignore_errors=True)
            raise PublishBlocked(f"{spec.id} run {gate.run_id} not published: the table would "
                                 f"hold {rows} rows, below the minimum {spec.quality.min_rows}")
        return _commit(fresh, out_dir, new_files)

    def _commit(fresh: iceberg.Table, out_dir: Path, new_files: list[str]) -> iceberg.Table:
        """One snapshot: the table's files swapped for `new_files` (removed on failure)."""
        props = {"lgsp.run_id": gate.run_id, "lgsp.published_rows": str(gate.curated_rows),
                 "lgsp.quarantined_rows": str(gate.quarantined_rows)}
        try:
            return iceberg.replace_files(fresh, lambda _path: True, new_files, props)
        except BaseException:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise

    table = iceberg.with_commit_retry(attempt)
    snapshot = table.current_snapshot()
    total = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0
    return (snapshot.snapshot_id if snapshot else None), total  # type: ignore[return-value]


def _current_source(files: list[str], schema: pa.Schema) -> str:
    """The table's current files as the curated schema: a column added to the spec since
    they were written (e.g. a new <col>_raw) reads as NULL."""
    source = duck.parquet_source(files)
    have: set[str] = set()
    for path in files:
        have.update(pq.read_schema(path).names)
    if all(f.name in have for f in schema):
        return source
    cols = ", ".join(q(f.name) if f.name in have else
                     f"CAST(NULL AS {_DUCK_TYPES[str(f.type)]}) AS {q(f.name)}" for f in schema)
    return f"(SELECT {cols} FROM {source})"


_DUCK_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN",
               "date32[day]": "DATE", "timestamp[us]": "TIMESTAMP"}


def _merge_sql(columns: str, keys: list[str], order: str, incoming: str,
               current: str | None) -> str:
    """The table after the merge: per key the newest record (by `order`, then incoming
    before current, deletions before upserts, then the later run); deleted keys dropped.

    Only the keys the run touches are ranked: their incoming rows and their current rows
    (a semi-join). The other current rows are carried over by an anti-join against the
    touched keys (a hash table of the run's keys), so a small daily run over a large table
    costs a streaming pass, not a window over the whole table."""
    key_list = ", ".join(q(k) for k in keys)
    ranked = (f"QUALIFY row_number() OVER (PARTITION BY {key_list} "
              f"ORDER BY {order}_incoming DESC, _deleted DESC, {q(RUN_COLUMN)} DESC) = 1")
    if current is None:
        return (f"SELECT {columns} FROM (SELECT * FROM ({incoming}) {ranked}) "
                f"WHERE NOT _deleted")
    same_key = " AND ".join(f"cur.{q(k)} IS NOT DISTINCT FROM touched.{q(k)}" for k in keys)
    return (
        f"WITH incoming AS ({incoming}), "
        f"touched AS (SELECT DISTINCT {key_list} FROM incoming), "
        f"winners AS (SELECT * FROM (SELECT * FROM incoming UNION ALL "
        f"SELECT {columns}, false AS _deleted, 0 AS _incoming FROM {current} AS cur "
        f"SEMI JOIN touched ON {same_key}) {ranked}) "
        f"SELECT {columns} FROM {current} AS cur ANTI JOIN touched ON {same_key} "
        f"UNION ALL SELECT {columns} FROM winners WHERE NOT _deleted"
    )


def _unique_keys(staged: Path, keys: list[str]) -> bool:
    """No primary key twice (and none NULL) among the staged rows: one hash aggregate."""
    key = q(keys[0]) if len(keys) == 1 else f"({', '.join(q(k) for k in keys)})"
    with duck.connection() as con:
        row = con.execute(f"SELECT count(*) = count(DISTINCT {key}) AND count({key}) = count(*) "
                          f"FROM read_parquet('{staged}')").fetchone()
    return bool(row and row[0])


def _record_quarantine(spec: DatasetSpec, settings: Settings, gate: GateResult) -> None:
    """Merge the run's quarantined rows into the quarantine table: one row per (source
    record, reason), however often it arrives (a re-sent file, a re-run window, the same run
    published again).

    A source record is its values as delivered: every spec column's raw string (NULL and ''
    apart), which include its primary key; two deliveries with equal values are the same
    record, whatever file, run or row they came in. The reason is the checks it failed
    (`_rules`): the same record failing other checks (a changed spec) is another row. A
    record arriving again replaces its row, keeping the latest occurrence's `_run_id`,
    `_row`, `_reasons` and `_ingested_at`. The table is rewritten as one snapshot (it holds
    only rejected rows); a run with nothing quarantined leaves it as it is."""
    catalog = iceberg.load_catalog(settings)
    schema = quarantine_arrow_schema(spec)
    iceberg.ensure_table(catalog, iceberg.QUARANTINE, spec.id, schema)
    if not gate.quarantined_rows:
        return
    staged = Path(gate.staging_dir) / QUARANTINE_FILE
    columns = ", ".join(q(f.name) for f in schema)
    identity = ", ".join([q(c.name) for c in spec.columns] + ["_rules"])

    def attempt() -> iceberg.Table:
        fresh = catalog.load_table((iceberg.QUARANTINE, spec.id))
        current = [iceberg.local_path(p) for p in iceberg.data_files(fresh)]
        out_dir = iceberg.table_dir(fresh) / "data" / f"{gate.run_id}-{_file_uuid()}"
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        parts = [f"SELECT {columns}, 1 AS _incoming FROM read_parquet('{staged}')"]
        if current:
            parts.append(f"SELECT {columns}, 0 AS _incoming FROM {duck.parquet_source(current)}")
        latest = (f"QUALIFY row_number() OVER (PARTITION BY {identity} ORDER BY _incoming DESC, "
                  f"{q(INGESTED_COLUMN)} DESC NULLS LAST, {q(RUN_COLUMN)} DESC, _row DESC) = 1")
        try:
            with duck.connection() as con:
                con.execute(
                    f"COPY (SELECT {columns} FROM ({' UNION ALL '.join(parts)}) {latest} "
                    f"ORDER BY {q(RUN_COLUMN)}, _row) TO '{out_dir}' (FORMAT parquet, "
                    f"COMPRESSION zstd, FILE_SIZE_BYTES '256MB', FILENAME_PATTERN 'part-{{i}}')"
                )
            return iceberg.replace_files(
                fresh, lambda _path: True, sorted(str(p) for p in out_dir.glob("*.parquet")),
                {"lgsp.run_id": gate.run_id})
        except BaseException:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise

    iceberg.with_commit_retry(attempt)


def publish(spec: DatasetSpec, run: RawRun, gate: GateResult, settings: Settings) -> PublishResult:
    if gate.blocked:
        raise PublishBlocked(
            f"{spec.id} run {run.run_id} not published: " + "; ".join(gate.block_reasons)
        )
    if gate.run_id != run.run_id:
        raise ValueError(f"gate result is for run {gate.run_id}, not {run.run_id}")
    verify_staged(gate)  # the staged files are those the gate checked, or nothing is published
    if gate.raw_rows or not spec.source.incremental:
        log_ordered = bool((run.manifest.get("source") or {}).get("log_ordered"))
        snapshot_id, total = _merge_curated(spec, settings, gate, log_ordered)
        _record_quarantine(spec, settings, gate)
    else:
        # Nothing new in the window: the table keeps its current snapshot, and only the
        # watermark / file ledger moves on.
        snapshot_id, total = iceberg.current_snapshot(settings, iceberg.CURATED, spec.id)
    until = run.manifest.get("window", {}).get("until")
    state = StateStore(settings.state_dir)
    watermark = datetime.fromisoformat(until) if until and spec.source.incremental else None
    state.advance(spec.id, watermark, run.run_id, run.manifest.get("state_update") or {})
    result = PublishResult(
        dataset=spec.id, run_id=run.run_id, curated_snapshot_id=snapshot_id,
        curated_rows_total=total, published_rows=gate.curated_rows,
        quarantined_rows=gate.quarantined_rows, watermark=until,
    )
    history = settings.quality_dir / spec.id / "history.jsonl"
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({**asdict(result), "owner": spec.owner.agency.en,
                             "raw_rows": gate.raw_rows,
                             "quality_score": _rounded(gate.quality_score)},
                            ensure_ascii=False) + "\n")
    return result


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(score, 3)
