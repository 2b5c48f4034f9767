"""Reconciliation: a full compare of a dataset's source with its curated table that repairs
drift the incremental reads cannot see, counted and reported.

What incremental extraction misses (issue 11): a row restored with its original timestamp, a
deletion-log row written long after the deletion, a change stamped behind the watermark beyond
the declared `lag`, a source with no deletion log at all. `reconcile()`:
1. reads the whole source up to now through the dataset's own connector (one snapshot on SQL
   sources) into a raw run, and passes it through the quality gate's split (no GX: an audit,
   not a publish of new data); a blocked gate repairs nothing;
2. compares, per primary key, the gate's typed rows with the current snapshot by a row hash
   over the spec's columns, in DuckDB (a hash join capped by the gate's memory limit, spilling
   to disk: memory stays flat whatever the table size): `inserted` (in the source, missing
   from curated), `updated` (in both, hash differs: stale), `removed` (in curated, not in the
   source: ghosts). A key the gate quarantined in this read keeps its curated row, as an
   incremental run would (the last good version stays; the quarantine already reports it);
3. when anything drifted, commits one Iceberg snapshot with the repaired table (the source's
   rows plus those kept), and appends the counts to `quality/<id>/reconcile.jsonl`, which
   `lgsp status` and `lgsp quality` show. The watermark is left alone: the next incremental
   run re-reads its window, which costs nothing (same key and version).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog.spec import DatasetSpec
from expectations.gate import CURATED_FILE, GATE_MEMORY_LIMIT, QUARANTINE_FILE, run_gate
from lgsp.config import Settings
from warehouse import duck, iceberg
from warehouse.curate import curated_arrow_schema
from warehouse.duck import quote_ident as q

LOG_FILE = "reconcile.jsonl"


class ReconcileBlocked(RuntimeError):
    """The full read did not pass the gate, or the table was published meanwhile; nothing
    was repaired."""


@dataclass
class ReconcileResult:
    dataset: str
    run_id: str
    at: str
    source_rows: int
    curated_rows_before: int
    curated_rows_after: int
    inserted: int
    updated: int
    removed: int
    kept_quarantined: int
    snapshot_id: int | None

    @property
    def drift(self) -> int:
        return self.inserted + self.updated + self.removed


def _full_spec(spec: DatasetSpec) -> DatasetSpec:
    """The same source read whole (no watermark, no lag). A log-based source (`pg_logical`)
    is read as its table, in one snapshot, by the `sql` transport: the log holds changes only."""
    params = {k: v for k, v in spec.source.params.items() if k != "lag"}
    connector = spec.source.connector
    if connector == "pg_logical":
        connector = "sql"
        params = {k: params[k] for k in ("dsn", "table", "key") if k in params}
    source = spec.source.model_copy(update={"incremental": False, "params": params,
                                            "connector": connector})
    return spec.model_copy(update={"source": source})


def reconcile(spec: DatasetSpec, settings: Settings, until: datetime | None = None) -> ReconcileResult:
    from lgsp import pipeline  # the stages; imported here (pipeline imports warehouse modules)

    if not spec.primary_key:
        raise ValueError(f"{spec.id}: reconciliation compares by primary key; the spec has none")
    full = _full_spec(spec)
    catalog = iceberg.load_catalog(settings)
    schema = curated_arrow_schema(spec)
    before = iceberg.ensure_table(catalog, iceberg.CURATED, spec.id, schema).current_snapshot()
    started_on = before.snapshot_id if before else None
    run = pipeline.extract(full, settings, until=until or datetime.now(UTC))
    gate = run_gate(full, run, settings, use_gx=False)
    if gate.blocked:
        raise ReconcileBlocked(f"{spec.id}: reconciliation read {run.run_id} blocked by the gate: "
                               + "; ".join(gate.block_reasons))
    staged = Path(gate.staging_dir) / CURATED_FILE
    quarantined = Path(gate.staging_dir) / QUARANTINE_FILE
    columns = ", ".join(q(f.name) for f in schema)
    keys = ", ".join(q(k) for k in spec.primary_key)
    hashed = ", ".join(q(c) for c in spec.column_names)
    order = f"{q(spec.order_by)} DESC NULLS LAST" if spec.order_by else "1"
    counts: dict[str, int] = {}
    # A snapshot of a table with a primary key has each key once: then no window over every
    # row and column (that would hold the table in memory), only key and hash are read.
    with duck.connection(memory_limit=GATE_MEMORY_LIMIT) as con:
        key = q(spec.primary_key[0]) if len(spec.primary_key) == 1 else f"({keys})"
        row = con.execute(f"SELECT count(*) = count(DISTINCT {key}) FROM read_parquet('{staged}')"
                          ).fetchone()
    unique = bool(row and row[0])
    newest = "" if unique else (f"QUALIFY row_number() OVER (PARTITION BY {keys} "
                                f"ORDER BY {order}) = 1")

    def attempt() -> iceberg.Table:
        fresh = catalog.load_table((iceberg.CURATED, spec.id))
        now_on = fresh.current_snapshot()
        if (now_on.snapshot_id if now_on else None) != started_on:
            # A run published while the source was read: its newer rows would be undone.
            raise ReconcileBlocked(f"{spec.id}: the table was published during reconciliation "
                                   f"(read {run.run_id}); nothing repaired, run it again")
        current = duck.parquet_source([iceberg.local_path(p) for p in iceberg.data_files(fresh)])
        quarantine_keys = (f"SELECT DISTINCT {keys} FROM read_parquet('{quarantined}')"
                           if gate.quarantined_rows else f"SELECT {keys} FROM source WHERE false")
        # source: one row per key (the newest); kept: curated rows of keys quarantined now.
        with_sql = (
            f"WITH source AS (SELECT {columns} FROM read_parquet('{staged}') {newest}), "
            f"cur AS (SELECT {columns} FROM {current}), "
            f"held AS ({quarantine_keys}), "
            f"kept AS (SELECT * FROM cur SEMI JOIN held USING ({keys}) "
            f"ANTI JOIN source USING ({keys})), "
            f"target AS (SELECT * FROM source UNION ALL SELECT * FROM kept) ")
        compare = (
            f"{with_sql}SELECT count(*) FILTER (WHERE c.k IS NULL), "
            f"count(*) FILTER (WHERE c.k IS NOT NULL AND t.k IS NOT NULL AND c.h <> t.h), "
            f"count(*) FILTER (WHERE t.k IS NULL), "
            f"(SELECT count(*) FROM cur), (SELECT count(*) FROM target), (SELECT count(*) FROM kept) "
            f"FROM (SELECT ({keys}) AS k, hash({hashed}) AS h FROM target) AS t "
            f"FULL OUTER JOIN (SELECT ({keys}) AS k, hash({hashed}) AS h FROM cur) AS c "
            f"ON t.k = c.k")
        with duck.connection(memory_limit=GATE_MEMORY_LIMIT) as con:
            row = con.execute(compare).fetchone()
        assert row is not None
        counts.update(inserted=int(row[0]), updated=int(row[1]), removed=int(row[2]),
                      before=int(row[3]), after=int(row[4]), kept=int(row[5]))
        if not (counts["inserted"] or counts["updated"] or counts["removed"]):
            return fresh
        out_dir = iceberg.table_dir(fresh) / "data" / f"{run.run_id}-reconcile"
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            with duck.connection(memory_limit=GATE_MEMORY_LIMIT) as con:
                con.execute(f"COPY ({with_sql}SELECT * FROM target) TO '{out_dir}' "
                            "(FORMAT parquet, COMPRESSION zstd, FILE_SIZE_BYTES '256MB', "
                            "FILENAME_PATTERN 'part-{i}')")
            props = {"lgsp.run_id": run.run_id, "lgsp.reconcile": json.dumps(
                {k: counts[k] for k in ("inserted", "updated", "removed")})}
            return iceberg.replace_files(fresh, lambda _p: True,
                                         sorted(str(p) for p in out_dir.glob("*.parquet")), props)
        except BaseException:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise

    table = iceberg.with_commit_retry(attempt)
    snapshot = table.current_snapshot()
    result = ReconcileResult(
        dataset=spec.id, run_id=run.run_id, at=datetime.now(UTC).isoformat(timespec="seconds"),
        source_rows=gate.raw_rows - gate.deleted_rows, curated_rows_before=counts["before"],
        curated_rows_after=counts["after"], inserted=counts["inserted"], updated=counts["updated"],
        removed=counts["removed"], kept_quarantined=counts["kept"],
        snapshot_id=snapshot.snapshot_id if snapshot else None)
    log = settings.quality_dir / spec.id / LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
    return result


def last_reconciliation(settings: Settings, dataset: str) -> dict[str, Any] | None:
    log = settings.quality_dir / dataset / LOG_FILE
    if not log.exists():
        return None
    lines = log.read_text("utf-8").splitlines()
    return json.loads(lines[-1]) if lines else None


def describe_last(settings: Settings, dataset: str) -> str:
    """One cell for `lgsp status` / `lgsp quality` (column RECONCILE_HEADER): the day of the
    last reconciliation and what it repaired."""
    last = last_reconciliation(settings, dataset)
    if last is None:
        return "-"  # not reconciled yet ("never" in `lgsp status` means never run)
    return f"{last['at'][:10]} +{last['inserted']:,} ~{last['updated']:,} -{last['removed']:,}"


RECONCILE_HEADER = "reconciled (+inserted ~updated -removed)"
