"""The quality gate: validate a raw run, split good rows from quarantined ones, decide.

1. Great Expectations runs the dataset's suite on the raw run, SQL pushed down to DuckDB.
2. DuckDB evaluates the same checks in one pass and writes two staging files: the curated
   rows (typed, NFC) and the quarantined rows (as delivered, with every reason).
3. The counts must agree (GX vs the split), and raw = curated + quarantined, always.
4. Critical failures, a missing required column, too few rows or too many quarantined
   rows block the publish. The result is written to gate.json next to the staging files.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from catalog.spec import DatasetSpec
from expectations.reference import ensure_reference
from expectations.rules import COMBINING_MARKS, RowCheck, compile_checks, groups
from lgsp.config import Settings
from warehouse import duck
from warehouse.curate import INGESTED_COLUMN, RUN_COLUMN, curated_select
from warehouse.duck import quote_ident as q
from warehouse.raw_zone import ROW_COLUMN, RawRun

DELETED = "_deleted"

GATE_FILE = "gate.json"
CURATED_FILE = "curated.parquet"
QUARANTINE_FILE = "quarantine.parquet"


class GateError(RuntimeError):
    """The gate itself failed (not the data): a bug or an unreadable run."""


@dataclass
class CheckResult:
    name: str
    rule: str
    columns: list[str]
    severity: str
    description: str
    failed_rows: int
    gx_unexpected: int | None
    """GX's count for the check's group (the declared spec check it belongs to)."""
    gx_success: bool | None
    group: str = ""


@dataclass
class GateResult:
    dataset: str
    run_id: str
    raw_rows: int
    curated_rows: int
    quarantined_rows: int
    deleted_rows: int
    blocked: bool
    block_reasons: list[str]
    checks: list[CheckResult]
    normalised_values: int
    drift: dict[str, list[str]]
    staging_dir: str
    data_docs: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def quality_score(self) -> float:
        """Share of raw rows that passed every check, in percent."""
        return 100.0 if self.raw_rows == 0 else 100.0 * self.curated_rows / self.raw_rows

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "quality_score": round(self.quality_score, 3)}

    @classmethod
    def load(cls, staging_dir: str | Path) -> GateResult:
        data = json.loads((Path(staging_dir) / GATE_FILE).read_text("utf-8"))
        data.pop("quality_score", None)
        data["checks"] = [CheckResult(**c) for c in data["checks"]]
        return cls(**data)


def staging_dir(settings: Settings, dataset: str, run_id: str) -> Path:
    return settings.quality_dir / dataset / run_id


def _tombstone(present: set[str]) -> str:
    return f"coalesce(lower({q(DELETED)}), 'false') = 'true'" if DELETED in present else "false"


def _source_sql(run: RawRun, spec: DatasetSpec, present: set[str], live: bool = True) -> str:
    """The raw run as the spec's columns: live rows (checked), or tombstones (live=False)."""
    cols = []
    for col in spec.columns:
        if col.name in present:
            cols.append(q(col.name))
        else:
            cols.append(f"CAST(NULL AS VARCHAR) AS {q(col.name)}")
    cols.append(q(ROW_COLUMN))
    where = f"NOT ({_tombstone(present)})" if live else _tombstone(present)
    return f"SELECT {', '.join(cols)} FROM {duck.parquet_source(run.files)} WHERE {where}"


def _present_columns(run: RawRun) -> set[str]:
    names: set[str] = set()
    for path in run.files:
        names.update(pq.read_schema(path).names)
    return names


def _split_sql(source: str, checks: list[RowCheck]) -> str:
    derived: dict[str, str] = {}
    for check in checks:
        derived.update(check.derived)
    inner = source if not derived else (
        f"SELECT *, {', '.join(f'{e} AS {q(n)}' for n, e in derived.items())} FROM ({source})"
    )
    flags = ", ".join(f"coalesce({c.bad_when}, false) AS {q('_chk_' + str(i))}"
                      for i, c in enumerate(checks))
    reasons = ", ".join(
        f"CASE WHEN {q('_chk_' + str(i))} THEN {c.reason} END" for i, c in enumerate(checks)
        if c.severity != "warn"
    ) or "NULL"
    rules = ", ".join(
        f"CASE WHEN {q('_chk_' + str(i))} THEN '{c.name}' END" for i, c in enumerate(checks)
        if c.severity != "warn"
    ) or "NULL"
    return (
        f"SELECT *, list_filter([{reasons}], lambda x: x IS NOT NULL) AS _reasons, "
        f"list_filter([{rules}], lambda x: x IS NOT NULL) AS _rules "
        f"FROM (SELECT *, {flags} FROM ({inner}))"
        if checks else f"SELECT *, []::VARCHAR[] AS _reasons, []::VARCHAR[] AS _rules FROM ({inner})"
    )


def run_gate(spec: DatasetSpec, run: RawRun, settings: Settings, use_gx: bool = True,
             data_docs: bool = True) -> GateResult:
    t0 = time.perf_counter()
    run.verify()
    out = staging_dir(settings, spec.id, run.run_id)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    communes = ensure_reference(settings.reference_dir)
    from warehouse.query import snapshot_files

    checks = compile_checks(spec, communes,
                            curated_files=lambda other: snapshot_files(settings, "curated", other))
    drift = dict(run.manifest.get("schema_drift", {"extra_columns": [], "missing_columns": []}))
    present = _present_columns(run) if run.files else set()
    block: list[str] = []
    missing_required = [c.name for c in spec.columns if c.required and c.name not in present]
    missing_optional = [c.name for c in spec.columns
                        if not c.required and c.name not in present]
    if run.row_count and missing_required:
        block.append(
            f"schema drift: required column(s) {', '.join(missing_required)} missing from the "
            f"source in run {run.run_id}; nothing published"
        )
    drift["missing_columns"] = sorted(set(drift.get("missing_columns", [])) | set(missing_optional)
                                      | set(missing_required))
    if run.row_count == 0 and not spec.source.incremental and spec.source.connector != "derived":
        block.append(f"full-refresh run {run.run_id} has no rows; the published table is kept "
                     "(an empty source is more likely an outage than an empty registry)")
    if run.row_count < spec.quality.min_rows:
        block.append(f"row count {run.row_count} is below the minimum {spec.quality.min_rows}")

    result = GateResult(
        dataset=spec.id, run_id=run.run_id, raw_rows=run.row_count, curated_rows=0,
        quarantined_rows=0, deleted_rows=0, blocked=False, block_reasons=[], checks=[],
        normalised_values=0,
        drift=drift, staging_dir=str(out),
    )
    if block or run.row_count == 0:
        result.blocked = bool(block)
        result.block_reasons = block
        result.checks = [CheckResult(c.name, c.rule, list(c.columns), c.severity, c.description,
                                     0, None, None) for c in checks]
        _write(out, result)
        return result

    source = _source_sql(run, spec, present)
    gx_counts: dict[str, tuple[int | None, bool]] = {}
    gx_seconds = 0.0
    # GX, then the split, one after the other: both are CPU-bound DuckDB work (run at once on
    # 2 cores they took as long, with both working sets in memory at the same time).
    if use_gx:
        suite, gx_seconds = _run_gx(spec, run, source, checks, settings, data_docs, out)
        for outcome in suite.outcomes:
            if outcome.error:
                raise GateError(f"{spec.id}: expectation {outcome.name} errored: {outcome.error}")
            gx_counts[outcome.name] = (outcome.unexpected_count, outcome.success)
        result.data_docs = suite.data_docs
    t2 = time.perf_counter()
    counts = _split(spec, run, source, _source_sql(run, spec, present, live=False), checks, out)
    t3 = time.perf_counter()

    result.curated_rows = counts["curated"]
    result.quarantined_rows = counts["quarantined"]
    result.normalised_values = counts["normalised"]
    result.deleted_rows = counts["deleted"]
    if result.curated_rows + result.quarantined_rows + result.deleted_rows != result.raw_rows:
        raise GateError(
            f"{spec.id} run {run.run_id}: raw rows {result.raw_rows} != curated "
            f"{result.curated_rows} + quarantined {result.quarantined_rows} + deletions "
            f"{result.deleted_rows}"
        )
    for group, failed in counts["per_group"].items():
        gx_count, _ = gx_counts.get(group, (None, None))
        if use_gx and gx_count != failed:
            raise GateError(
                f"{spec.id}: check {group}: Great Expectations found {gx_count} rows, "
                f"the quarantine split {failed}: the two must agree"
            )
    for i, check in enumerate(checks):
        failed = counts["per_check"][i]
        gx_count, gx_ok = gx_counts.get(check.group, (None, None))
        result.checks.append(CheckResult(check.name, check.rule, list(check.columns),
                                         check.severity, check.description, failed, gx_count,
                                         gx_ok, check.group))
        if check.severity == "critical" and failed:
            block.append(f"critical check {check.name} failed on {failed} row(s)")
    rate = result.quarantined_rows / max(1, result.raw_rows - result.deleted_rows)
    if rate > spec.quality.max_quarantine_rate:
        block.append(
            f"{rate:.1%} of rows quarantined, above the limit of "
            f"{spec.quality.max_quarantine_rate:.0%}: the source looks broken"
        )
    result.blocked = bool(block)
    result.block_reasons = block
    result.seconds = {"gx": round(gx_seconds, 3), "split": round(t3 - t2, 3),
                      "total": round(time.perf_counter() - t0, 3)}
    _write(out, result)
    return result


def _run_gx(spec: DatasetSpec, run: RawRun, source: str, checks: list[RowCheck],
            settings: Settings, data_docs: bool, out: Path) -> tuple[Any, float]:
    """GX's suite over the raw run loaded once into a DuckDB database file in the staging
    folder: each expectation is two SQL queries (count and sample), and DuckDB scans its own
    storage several times faster than it decodes the Parquet files again."""
    start = time.perf_counter()
    database = out / "_gx_raw.duckdb"
    try:
        with duck.connection(database=str(database)) as con:
            con.execute(f"CREATE TABLE raw AS {source}")
        from expectations.gx_duckdb import run_suite

        suite = run_suite(
            spec.id, run.run_id, "SELECT * FROM raw", checks, spec.column_names,
            spec.quality.min_rows, project_dir=settings.quality_dir / "gx" if data_docs else None,
            database=database,
        )
    finally:
        for leftover in (database, database.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
    return suite, time.perf_counter() - start


def _split(spec: DatasetSpec, run: RawRun, source: str, tombstones: str,
           checks: list[RowCheck], out: Path) -> dict[str, Any]:
    checked = out / "_checked.parquet"
    nfc_cols = [c.name for c in spec.columns if c.normalize == "nfc"]
    with duck.connection() as con:
        con.execute(f"COPY ({_split_sql(source, checks)}) TO '{checked}' (FORMAT parquet)")
        src = f"read_parquet('{checked}')"
        con.execute(
            f"COPY (SELECT {curated_select(spec, run.run_id, lenient=False)}, false AS {q(DELETED)} "
            f"FROM {src} WHERE len(_reasons) = 0 UNION ALL BY NAME "
            f"SELECT {curated_select(spec, run.run_id, lenient=True)}, true AS {q(DELETED)} "
            f"FROM ({tombstones})) "
            f"TO '{out / CURATED_FILE}' (FORMAT parquet, COMPRESSION zstd)"
        )
        deleted = con.execute(f"SELECT count(*) FROM ({tombstones})").fetchone()
        raw_cols = ", ".join(q(c.name) for c in spec.columns)
        con.execute(
            f"COPY (SELECT {raw_cols}, {q(ROW_COLUMN)}, '{run.run_id}' AS {q(RUN_COLUMN)}, "
            f"array_to_string(_rules, ', ') AS _rules, array_to_string(_reasons, '; ') AS _reasons, "
            f"CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) AS {q(INGESTED_COLUMN)} "
            f"FROM {src} WHERE len(_reasons) > 0 ORDER BY {q(ROW_COLUMN)}) "
            f"TO '{out / QUARANTINE_FILE}' (FORMAT parquet, COMPRESSION zstd)"
        )
        index = {id(c): i for i, c in enumerate(checks)}
        grouped = groups(checks)
        per = ", ".join(
            [f"count(*) FILTER (WHERE {q('_chk_' + str(i))})" for i in range(len(checks))]
            + ["count(*) FILTER (WHERE "
               + " OR ".join(q("_chk_" + str(index[id(m)])) for m in members) + ")"
               for members in grouped.values()])
        nfc = " + ".join(
            f"count(*) FILTER (WHERE regexp_matches({q(c)}, '[{COMBINING_MARKS}]'))"
            for c in nfc_cols
        ) or "0"
        row = con.execute(
            f"SELECT count(*) FILTER (WHERE len(_reasons) = 0), "
            f"count(*) FILTER (WHERE len(_reasons) > 0), {nfc}"
            f"{', ' + per if per else ''} FROM {src}"
        ).fetchone()
    checked.unlink()
    assert row is not None and deleted is not None
    values = [int(v) for v in row[3:]]
    return {"curated": int(row[0]), "quarantined": int(row[1]), "normalised": int(row[2]),
            "deleted": int(deleted[0]), "per_check": values[:len(checks)],
            "per_group": dict(zip(grouped, values[len(checks):], strict=True))}


def _write(out: Path, result: GateResult) -> None:
    (out / GATE_FILE).write_text(
        json.dumps(result.to_json(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
