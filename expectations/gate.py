"""The quality gate: validate a raw run, split good rows from quarantined ones, decide.

1. DuckDB evaluates the checks in one pass over the raw run and keeps the rows they flag,
   with every reason; it writes two staging files: the curated rows (typed, NFC: the live
   rows minus the quarantined ones) and the quarantined rows (as delivered, with reasons).
2. Great Expectations runs the dataset's suite on the raw run, SQL pushed down to DuckDB
   (imported in a thread while step 1 runs); the result is stored in the GX project, and
   Data Docs are rendered from it afterwards (`write_data_docs`), apart from the decision.
3. The counts must agree (GX vs the split), and raw = curated + quarantined + deletions,
   counted from the files written (not derived from one another), always.
4. Critical failures, a missing required column, too few rows (a full refresh, or the table
   after an incremental run) or too many quarantined rows block the publish. The result is
   written to gate.json next to the staging files, with the sha256 and row count of each
   staged file (paths relative to LGSP_HOME); publish verifies them (`verify_staged`).
   GX's suite states the same rules (a check's expectation fails only when it blocks, one
   more for the quarantine rate, the row-count minimum as the live rows the run needs), and
   the gate asserts GX's verdict equals its decision: Data Docs show a published run as
   succeeded and a blocked one as failed. A new blocking rule after GX runs needs its
   expectation in `gx_duckdb.run_suite` too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from catalog.spec import DatasetSpec
from expectations.gx_duckdb import share_exceeded
from expectations.reference import ensure_reference
from expectations.rules import COMBINING_MARKS, RowCheck, compile_checks, groups, identifier_sql
from lgsp.config import Settings
from warehouse import duck
from warehouse.curate import INGESTED_COLUMN, RAW_SUFFIX, RUN_COLUMN, curated_select
from warehouse.duck import quote_ident as q
from warehouse.raw_zone import ROW_COLUMN, RawRun

DELETED = "_deleted"

GATE_FILE = "gate.json"
CURATED_FILE = "curated.parquet"
"""The live rows that passed, typed and normalised: exactly the curated table's columns."""
TOMBSTONES_FILE = "tombstones.parquet"
"""The run's deletions (keys and order column, typed as curated); written when there are any."""
QUARANTINE_FILE = "quarantine.parquet"


GATE_MEMORY_LIMIT = os.environ.get("LGSP_GATE_DUCKDB_MEMORY_LIMIT", "320MB")
"""DuckDB's memory limit for the gate's connections (the split's and GX's). Less than the
general 512 MB: this process also holds Great Expectations (~130 MB) while the split runs;
DuckDB spills beyond it. 1.2 M people: ~650 MB peak for the whole gate."""


class GateError(RuntimeError):
    """The gate itself failed (not the data): a bug or an unreadable run."""


class StagedFileError(GateError):
    """A staged file is missing or differs from what the gate wrote: publish refuses it."""


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
    """Absolute in memory; in gate.json relative to LGSP_HOME (loaded from where it lies)."""
    files: list[dict[str, Any]] = field(default_factory=list)
    """The staged files: path (relative to LGSP_HOME), sha256, bytes, rows."""
    gx_result: list[str] | None = None
    """GX's stored validation result for this run (rendered by `build_data_docs`)."""
    data_docs: str | None = None
    """The Data Docs index, once rendered (after the gate, by the docs step)."""
    seconds: dict[str, float] = field(default_factory=dict)
    normalised_identifiers: dict[str, int] = field(default_factory=dict)
    """Per `normalize: identifier` column, the values the normalisation changed (a trailing
    or no-break space, full-width digits...): repaired, not quarantined; raw in <col>_raw."""

    @property
    def quality_score(self) -> float | None:
        """Share of raw rows that passed every check, in percent; None for a run without
        rows (nothing was scored: "no rows", not 100 %)."""
        return None if self.raw_rows == 0 else 100.0 * self.curated_rows / self.raw_rows

    def to_json(self, home: Path) -> dict[str, Any]:
        score = self.quality_score
        data = {**asdict(self), "quality_score": None if score is None else round(score, 3)}
        data["staging_dir"] = _relative(Path(self.staging_dir), home)
        if self.data_docs and self.data_docs.startswith("file://"):
            data["data_docs"] = _relative(Path(self.data_docs.removeprefix("file://")), home)
        return data

    @classmethod
    def load(cls, staging_dir: str | Path) -> GateResult:
        """Read gate.json; the staging folder is where it lies (gate.json written by older
        versions, with absolute paths, loads the same)."""
        staging = Path(staging_dir).resolve()
        data = json.loads((staging / GATE_FILE).read_text("utf-8"))
        data.pop("quality_score", None)
        data["checks"] = [CheckResult(**c) for c in data["checks"]]
        data["staging_dir"] = str(staging)
        docs = data.get("data_docs")
        if docs and not docs.startswith("file://"):
            data["data_docs"] = (_home_of(staging) / docs).as_uri()
        return cls(**data)


def _relative(path: Path, home: Path) -> str:
    """`path` relative to LGSP_HOME (as it is when outside it)."""
    try:
        return path.resolve().relative_to(home.resolve()).as_posix()
    except ValueError:
        return str(path)


def _home_of(staging: Path) -> Path:
    """LGSP_HOME of a staging folder: <home>/quality/<dataset>/<run_id> (`staging_dir`)."""
    return staging.parents[2]


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _staged_entry(path: Path, home: Path) -> dict[str, Any]:
    """Checksum, size and row count (from the Parquet footer) of a staged file."""
    return {"path": _relative(path, home), "sha256": sha256_file(path),
            "bytes": path.stat().st_size, "rows": pq.ParquetFile(path).metadata.num_rows}


def verify_staged(gate: GateResult) -> None:
    """Check the staged files publish reads against what the gate wrote into gate.json:
    present, listed, same sha256. Raises StagedFileError naming the file otherwise."""
    if not gate.raw_rows:
        return  # nothing was staged (an empty run)
    staging = Path(gate.staging_dir)
    home = _home_of(staging)
    listed = {Path(f["path"]).name: f for f in gate.files}
    needed = [CURATED_FILE, QUARANTINE_FILE] + ([TOMBSTONES_FILE] if gate.deleted_rows else [])
    for name in needed:
        path = staging / name
        shown = _relative(path, home)
        entry = listed.get(name)
        if entry is None:
            raise StagedFileError(
                f"{shown}: gate.json of run {gate.run_id} holds no checksum for it (written by "
                "an older version?); validate the run again. Nothing published")
        if not path.is_file():
            raise StagedFileError(f"{shown}: staged file missing; validate the run again. "
                                  "Nothing published")
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise StagedFileError(
                f"{shown}: checksum mismatch (gate wrote sha256 {entry['sha256'][:16]}..., "
                f"found {digest[:16]}...): the staged file changed after the gate; validate "
                "the run again. Nothing published")


def staging_dir(settings: Settings, dataset: str, run_id: str) -> Path:
    return settings.quality_dir / dataset / run_id


def gx_project_dir(settings: Settings) -> Path:
    """The GX project: suites, validation results, Data Docs."""
    return settings.quality_dir / "gx"


def write_data_docs(settings: Settings, gates: list[GateResult]) -> str | None:
    """Render Data Docs for these gate results (one build, one index page) and record the
    index URL in each gate.json. None when GX ran for none of them."""
    keys = [g.gx_result for g in gates if g.gx_result]
    if not keys:
        return None
    from expectations.gx_duckdb import build_data_docs

    url = build_data_docs(gx_project_dir(settings), keys)
    for gate in gates:
        if gate.gx_result:
            gate.data_docs = url
            _write(Path(gate.staging_dir), gate, settings.home)
    return url


def _tombstone(present: set[str]) -> str:
    return f"coalesce(lower({q(DELETED)}), 'false') = 'true'" if DELETED in present else "false"


def _source_sql(run: RawRun, spec: DatasetSpec, present: set[str], live: bool = True) -> str:
    """The raw run as the spec's columns: live rows (checked), or tombstones (live=False).
    A column declared `normalize: identifier` is its normalised value (what every check,
    GX and the curated table see), with the value as delivered beside it in <name>_raw."""
    cols = []
    for col in spec.columns:
        if col.name not in present:
            cols.append(f"CAST(NULL AS VARCHAR) AS {q(col.name)}")
            if col.normalize == "identifier":
                cols.append(f"CAST(NULL AS VARCHAR) AS {q(col.name + RAW_SUFFIX)}")
        elif col.normalize == "identifier":
            cols.append(f"{identifier_sql(col.name)} AS {q(col.name)}")
            cols.append(f"{q(col.name)} AS {q(col.name + RAW_SUFFIX)}")
        else:
            cols.append(q(col.name))
    cols.append(q(ROW_COLUMN))
    where = f"NOT ({_tombstone(present)})" if live else _tombstone(present)
    return f"SELECT {', '.join(cols)} FROM {duck.parquet_source(run.files)} WHERE {where}"


def _present_columns(run: RawRun) -> set[str]:
    names: set[str] = set()
    for path in run.files:
        names.update(pq.read_schema(path).names)
    return names


def run_gate(spec: DatasetSpec, run: RawRun, settings: Settings, use_gx: bool = True,
             keep_gx_result: bool = True) -> GateResult:
    """Validate a raw run. `keep_gx_result`: store GX's suite and result in the project under
    quality/gx (for Data Docs), else run GX in an ephemeral context."""
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
    min_rows = spec.quality.min_rows
    table_rows = 0
    if not spec.source.incremental:
        if run.row_count == 0 and spec.source.connector != "derived":
            block.append(f"full-refresh run {run.run_id} has no rows; the published table is "
                         "kept (an empty source is more likely an outage than an empty registry)")
        elif run.row_count < min_rows:
            block.append(f"full-refresh run {run.run_id}: row count {run.row_count} is below "
                         f"the minimum {min_rows}")
    elif min_rows:
        # An incremental run delivers a change window, which may well be empty: `min_rows`
        # guards the table after the merge (checked again exactly at publish).
        from warehouse.iceberg import current_snapshot

        table_rows = current_snapshot(settings, "curated", spec.id)[1]

    result = GateResult(
        dataset=spec.id, run_id=run.run_id, raw_rows=run.row_count, curated_rows=0,
        quarantined_rows=0, deleted_rows=0, blocked=False, block_reasons=[], checks=[],
        normalised_values=0,
        drift=drift, staging_dir=str(out),
    )
    if run.row_count == 0 and spec.source.incremental and table_rows < min_rows:
        block.append(f"no rows in run {run.run_id} and the table holds {table_rows}: below the "
                     f"minimum {min_rows}")
    if block or run.row_count == 0:
        result.blocked = bool(block)
        result.block_reasons = block
        result.checks = [CheckResult(c.name, c.rule, list(c.columns), c.severity, c.description,
                                     0, None, None) for c in checks]
        _write(out, result, settings.home)
        return result

    source = _source_sql(run, spec, present)
    gx_counts: dict[str, tuple[int | None, bool]] = {}
    gx_verdict: bool | None = None
    # The split first, while Great Expectations is imported in a thread (seconds of Python;
    # DuckDB does not hold the GIL); then GX's suite. Both are CPU-bound DuckDB work: run
    # side by side on 2 cores they took as long as one after the other, with more memory.
    t2 = time.perf_counter()
    gx_import = _GXImport() if use_gx else None
    counts = _split(spec, run, source, _source_sql(run, spec, present, live=False), checks, out)
    t3 = time.perf_counter()
    if gx_import is not None:
        gx_import.wait()
        from expectations.gx_duckdb import run_suite

        suite = run_suite(
            spec.id, run.run_id, source, checks, spec.column_names,
            _gx_min_rows(spec, min_rows, table_rows, counts),
            project_dir=gx_project_dir(settings) if keep_gx_result else None,
            memory_limit=GATE_MEMORY_LIMIT,
            max_quarantine_rate=spec.quality.max_quarantine_rate,
            quarantined_rows=counts["quarantined"],
        )
        gx_verdict = suite.success
        for outcome in suite.outcomes:
            if outcome.error:
                raise GateError(f"{spec.id}: expectation {outcome.name} errored: {outcome.error}")
            gx_counts[outcome.name] = (outcome.unexpected_count, outcome.success)
        result.gx_result = suite.result_key
    t4 = time.perf_counter()

    # Every count below is read from the file written, not derived from another count.
    result.curated_rows = counts["curated"]
    result.quarantined_rows = counts["quarantined"]
    result.normalised_values = counts["normalised"]
    result.normalised_identifiers = counts["identifiers"]
    result.deleted_rows = counts["deleted"]
    if result.quarantined_rows != counts["blocked"]:
        raise GateError(
            f"{spec.id} run {run.run_id}: {QUARANTINE_FILE} holds {result.quarantined_rows} "
            f"rows but the checks blocked {counts['blocked']}"
        )
    if result.curated_rows + result.quarantined_rows + result.deleted_rows != result.raw_rows:
        raise GateError(
            f"{spec.id} run {run.run_id}: raw rows {result.raw_rows} != curated "
            f"{result.curated_rows} + quarantined {result.quarantined_rows} + deletions "
            f"{result.deleted_rows} (rows counted in the files written)"
        )
    result.files = [_staged_entry(out / name, settings.home) for name in
                    (CURATED_FILE, QUARANTINE_FILE, TOMBSTONES_FILE) if (out / name).exists()]
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
    if spec.source.incremental and table_rows + result.curated_rows < min_rows:
        block.append(f"the table would hold at most {table_rows + result.curated_rows} rows "
                     f"after run {run.run_id}, below the minimum {min_rows}")
    live = result.raw_rows - result.deleted_rows
    rate = result.quarantined_rows / max(1, live)
    if share_exceeded(result.quarantined_rows, live, spec.quality.max_quarantine_rate):
        block.append(
            f"{rate:.1%} of rows quarantined, above the limit of "
            f"{spec.quality.max_quarantine_rate:.0%}: the source looks broken"
        )
    result.blocked = bool(block)
    result.block_reasons = block
    if gx_verdict is not None and gx_verdict == result.blocked:
        raise GateError(
            f"{spec.id} run {run.run_id}: Great Expectations' suite "
            f"{'succeeded' if gx_verdict else 'failed'} but the gate "
            f"{'blocked the run (' + '; '.join(block) + ')' if block else 'passed it'}: "
            "the suite must state the gate's rules (expectations/gx_duckdb.run_suite)"
        )
    result.seconds = {"split": round(t3 - t2, 3), "gx": round(t4 - t3, 3),
                      "gx_import": round(gx_import.seconds, 3) if gx_import else 0.0,
                      "total": round(time.perf_counter() - t0, 3)}
    _write(out, result, settings.home)
    return result


def _gx_min_rows(spec: DatasetSpec, min_rows: int, table_rows: int,
                 counts: dict[str, Any]) -> int:
    """The live rows GX's row-count expectation must see for the run to meet `min_rows` as
    the gate counts it. GX counts the run's live rows (deletions apart). A full refresh needs
    `min_rows` raw rows; an incremental run needs the table after it (its rows plus the
    run's curated = live - quarantined rows) to hold `min_rows`."""
    if not min_rows:
        return 0
    if spec.source.incremental:
        return max(0, min_rows - table_rows + counts["quarantined"])
    return max(0, min_rows - counts["deleted"])


class _GXImport:
    """`import great_expectations` in a thread, started as the gate starts: it is seconds of
    Python (a fixed cost per process) that overlaps the DuckDB work of the split."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="gx-import", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            from expectations.gx_duckdb import enable_duckdb

            enable_duckdb()
        except BaseException:  # noqa: BLE001 - run_suite imports again and raises it
            pass
        self.seconds = time.perf_counter() - start

    def wait(self) -> None:
        self._thread.join()


def _split(spec: DatasetSpec, run: RawRun, source: str, tombstones: str,
           checks: list[RowCheck], out: Path) -> dict[str, Any]:
    """The checks evaluated once, then the two staging files, in three passes:

    1. every check over the columns the checks read (not whole rows: subquery operators
       buffer their input), keeping the row number and the flags of the rows some check
       flags (or holding combining marks, for the NFC count);
    2. curated: the live rows no blocking check flagged (an anti-join on the row number),
       typed; the tombstones in a file of their own;
    3. quarantine: the blocked rows as delivered, joined to their flags for the reasons.
    """
    nfc_cols = [c.name for c in spec.columns if c.normalize == "nfc"]
    id_cols = [c.name for c in spec.columns if c.normalize == "identifier"]
    chk = [q(f"_chk_{i}") for i in range(len(checks))]
    nfc = [q(f"_nfc_{i}") for i in range(len(nfc_cols))]
    idn = [q(f"_idn_{i}") for i in range(len(id_cols))]
    row = q(ROW_COLUMN)
    flags = ([f"coalesce({c.over(f'({source})')}, false) AS {chk[i]}"
              for i, c in enumerate(checks)]
             + [f"coalesce(regexp_matches({q(c)}, '[{COMBINING_MARKS}]'), false) AS {nfc[i]}"
                for i, c in enumerate(nfc_cols)]
             + [f"({q(c)} IS DISTINCT FROM {q(c + RAW_SUFFIX)}) AS {idn[i]}"
                for i, c in enumerate(id_cols)])
    blockers = [(chk[i], c) for i, c in enumerate(checks) if c.severity != "warn"]

    def listed(items: list[str], sep: str) -> str:
        """The non-NULL items joined with `sep` ('' when there are none)."""
        if not items:
            return "CAST('' AS VARCHAR)"
        return f"array_to_string(list_filter([{', '.join(items)}], lambda x: x IS NOT NULL), '{sep}')"

    rules = listed([f"CASE WHEN {flag} THEN '{c.name}' END" for flag, c in blockers], ", ")
    reasons = listed([f"CASE WHEN {flag} THEN {c.reason} END" for flag, c in blockers], "; ")
    blocking = " OR ".join(flag for flag, _ in blockers) or "false"
    raw_cols = ", ".join(  # the quarantine holds the values as delivered
        f"{q(c.name + RAW_SUFFIX)} AS {q(c.name)}" if c.normalize == "identifier" else q(c.name)
        for c in spec.columns)
    with duck.connection(memory_limit=GATE_MEMORY_LIMIT) as con:
        con.execute(f"CREATE TEMP TABLE flagged AS SELECT * FROM (SELECT {row}"
                    f"{''.join(', ' + f for f in flags)} FROM ({source})) "
                    f"WHERE {' OR '.join(chk + nfc + idn) or 'false'}")
        con.execute(f"CREATE TEMP TABLE blocked AS SELECT {row} FROM flagged WHERE {blocking}")
        con.execute(
            f"COPY (SELECT {curated_select(spec, run.run_id, lenient=False)} "
            f"FROM ({source}) ANTI JOIN blocked USING ({row})) "
            f"TO '{out / CURATED_FILE}' (FORMAT parquet, COMPRESSION zstd)"
        )
        deleted = con.execute(f"SELECT count(*) FROM ({tombstones})").fetchone()
        assert deleted is not None
        if deleted[0]:
            con.execute(
                f"COPY (SELECT {curated_select(spec, run.run_id, lenient=True)} "
                f"FROM ({tombstones})) "
                f"TO '{out / TOMBSTONES_FILE}' (FORMAT parquet, COMPRESSION zstd)"
            )
        con.execute(
            f"COPY (SELECT {raw_cols}, {row}, '{run.run_id}' AS {q(RUN_COLUMN)}, "
            f"{rules} AS _rules, {reasons} AS _reasons, "
            f"CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) AS {q(INGESTED_COLUMN)} "
            f"FROM (SELECT * FROM ({source}) SEMI JOIN blocked USING ({row})) "
            f"JOIN flagged USING ({row}) ORDER BY {row}) "
            f"TO '{out / QUARANTINE_FILE}' (FORMAT parquet, COMPRESSION zstd)"
        )
        index = {id(c): i for i, c in enumerate(checks)}
        grouped = groups(checks)
        per = ", ".join(
            [f"count(*) FILTER (WHERE {c})" for c in chk]
            + ["count(*) FILTER (WHERE " + " OR ".join(chk[index[id(m)]] for m in members) + ")"
               for members in grouped.values()]
            + [f"count(*) FILTER (WHERE {c})" for c in idn])
        nfc_count = " + ".join(f"count(*) FILTER (WHERE {c})" for c in nfc) or "0"
        counts = con.execute(
            f"SELECT count(*) FILTER (WHERE {blocking}), {nfc_count}"
            f"{', ' + per if per else ''} FROM flagged"
        ).fetchone()
    assert counts is not None
    values = [int(v) for v in counts[2:len(counts) - len(idn)]]
    repaired = [int(v) for v in counts[len(counts) - len(idn):]]
    tombstones_file = out / TOMBSTONES_FILE
    return {"curated": _rows(out / CURATED_FILE), "quarantined": _rows(out / QUARANTINE_FILE),
            "blocked": int(counts[0]), "normalised": int(counts[1]),
            "deleted": _rows(tombstones_file) if tombstones_file.exists() else 0,
            "identifiers": dict(zip(id_cols, repaired, strict=True)),
            "per_check": values[:len(checks)],
            "per_group": dict(zip(grouped, values[len(checks):], strict=True))}


def _rows(path: Path) -> int:
    """Rows of a Parquet file written, from its footer."""
    return int(pq.ParquetFile(path).metadata.num_rows)


def _write(out: Path, result: GateResult, home: Path) -> None:
    """gate.json, written whole or not at all (a temporary file renamed)."""
    tmp = out / (GATE_FILE + ".part")
    tmp.write_text(json.dumps(result.to_json(home), ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, out / GATE_FILE)
