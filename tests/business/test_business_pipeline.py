"""The business registry end to end: a real drop folder -> file_drop -> GX gate -> Iceberg.

Happy path with every defect in quarantine (and the owner check against the published
population), re-runs without duplicates, the next day's drop picked up alone, schema drift,
a corrupt file, the folder going away mid-extract, and the Airflow DAG.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import unicodedata
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from catalog.spec import get_spec
from connectors.base import ConnectorError
from connectors.file_drop import MalformedFile
from connectors.state import StateStore
from expectations.gate import GateResult, run_gate, staging_dir
from lgsp import pipeline
from registries.business.drop import (
    NEW_HEADERS,
    DropFileSpec,
    csv_bytes,
    drop_day,
    initial_drop,
    write_atomically,
)
from registries.business.generator import COLUMNS, QUARANTINED
from tests.business.conftest import AS_OF, SEED, SIZE, spec_for
from tests.gx_agreement import assert_gx_agrees_with_split
from warehouse import iceberg
from warehouse.publish import publish
from warehouse.query import curated_connection
from warehouse.raw_zone import RawRun, RawRunWriter, committed_runs

DATASET = "business_registry"


@pytest.fixture(scope="module")
def population_table() -> pa.Table:
    from registries.population.generator import PUBLIC_COLUMNS, generate_population

    return generate_population(SIZE, SEED, as_of=AS_OF).select(list(PUBLIC_COLUMNS))


def publish_population(settings, table: pa.Table) -> None:
    spec = get_spec("population")
    writer = RawRunWriter(root=settings.raw_dir, dataset="population", run_id="population-1",
                          source={"connector": "test"},
                          window={"since": None, "until": "2026-11-01T00:00:00+00:00"})
    for batch in table.to_batches(max_chunksize=100_000):
        writer.write(batch)
    run = writer.commit(schema_drift={"extra_columns": [], "missing_columns": []})
    publish(spec, run, run_gate(spec, run, settings, use_gx=False), settings)


def _scalar(settings, sql: str):
    return curated_connection(settings).execute(sql).fetchone()[0]


def _gate(settings, run_id: str) -> GateResult:
    return GateResult.load(staging_dir(settings, DATASET, run_id))


def _csv(headers: list[str], rows: list[list[str | None]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([headers, *rows])
    return buffer.getvalue()


def _nothing_published(settings) -> None:
    assert not iceberg.load_catalog(settings).table_exists(("curated", DATASET))
    assert not list(committed_runs(settings.raw_dir, DATASET)), "no committed raw run"
    assert not list((settings.raw_dir / DATASET).glob(".tmp-*")), "aborted run cleaned up"
    assert "file_drop" not in StateStore(settings.state_dir).get(DATASET).extra


def test_happy_path_reruns_and_next_day(settings, drop, population_table):
    publish_population(settings, population_table)
    folder = drop.files[0].parent
    spec = spec_for(folder)
    truth = drop.records
    rejected = {r["enterprise_code"] for r in truth if r["_defect"] in QUARANTINED}

    summary = pipeline.run_dataset(spec, settings, use_gx=True)
    assert not summary.blocked, summary.block_reasons
    assert summary.extracted == len(truth)
    assert summary.quarantined == len(rejected)
    assert summary.total_rows == len(truth) - len(rejected)
    con = curated_connection(settings)
    quarantined = dict(con.execute(
        f"SELECT enterprise_code, _reasons FROM {DATASET}_quarantine").fetchall())
    assert set(quarantined) == rejected
    bad_digit = next(r for r in truth if r["_defect"] == "check_digit")["enterprise_code"]
    assert f"enterprise_code: '{bad_digit}' has check digit {bad_digit[9]}, expected" in (
        quarantined[bad_digit])
    assert _scalar(settings, f"SELECT count(*) - count(DISTINCT enterprise_code) FROM {DATASET}") == 0

    gate = _gate(settings, summary.run_id)
    assert_gx_agrees_with_split(gate)
    owners = next(c for c in gate.checks if c.rule == "exists_in")
    assert (owners.severity, owners.failed_rows) == (
        "warn", sum(r["_defect"] == "unknown_owner" for r in truth))
    nfd = next(r for r in truth if r["_defect"] == "nfd_text")
    name, raw = con.execute(f"SELECT name, name_raw FROM {DATASET} WHERE enterprise_code = ?",
                            [nfd["enterprise_code"]]).fetchone()
    assert name == unicodedata.normalize("NFC", nfd["name"]) and raw == nfd["name"]
    assert gate.normalised_values >= 1

    # Every quarantined row traces back to its file and row through the raw run.
    run = RawRun.load(settings.raw_dir / DATASET / summary.run_id)
    files = [str(f) for f in run.files]
    traced = duckdb.sql(
        f"SELECT q.enterprise_code, r._source_file, r._source_row FROM read_parquet("
        f"'{gate.staging_dir}/quarantine.parquet') q JOIN read_parquet({files}, "
        "union_by_name = true) r USING (_row)").fetchall()
    where = {s.name: {r["enterprise_code"] for r in s.records} for s in drop.specs}
    assert len(traced) == len(rejected)
    for code, source_file, source_row in traced:
        assert code in where[source_file] and int(source_row) >= 2
    encodings = {f["name"][14:16]: f["encoding"] for f in run.manifest["source"]["files"]}
    assert encodings == {"01": "utf-8-sig", "02": "utf-8", "03": "tcvn3", "04": "vni",
                         "05": "cp1258", "06": "utf-8"}
    ledger = StateStore(settings.state_dir).get(DATASET).extra["file_drop"]["ingested"]
    assert sorted(e["name"] for e in ledger.values()) == sorted(s.name for s in drop.specs)

    # The same files again (ledger reset): nothing new, no duplicates.
    StateStore(settings.state_dir).reset(DATASET)
    again = pipeline.run_dataset(spec, settings, use_gx=False)
    assert again.total_rows == summary.total_rows
    assert _scalar(settings, f"SELECT count(*) - count(DISTINCT enterprise_code) FROM {DATASET}") == 0
    # The same rejected rows again: one row each, now naming the latest run (idempotent).
    assert _scalar(settings, f"SELECT count(*) FROM {DATASET}_quarantine") == len(rejected)
    assert _scalar(settings, f"SELECT list(DISTINCT _run_id) FROM {DATASET}_quarantine") == [
        again.run_id]

    # The next day's drop: only its files are read; updates replace, new enterprises add.
    day = drop_day(folder, "2026-11-02", SIZE, SEED, AS_OF)
    inc = pipeline.run_dataset(spec, settings, use_gx=False)
    assert inc.extracted == len(day.records)
    new_codes = {r["enterprise_code"] for s in day.specs[1:] for r in s.records}
    assert inc.total_rows == summary.total_rows + len(new_codes)
    con = curated_connection(settings)  # a connection reads the snapshot current when opened
    for record in day.records:
        row = con.execute(f"SELECT status_code, commune_code, updated_at FROM {DATASET} "
                          "WHERE enterprise_code = ?", [record["enterprise_code"]]).fetchone()
        assert row[:2] == (record["status_code"], record["commune_code"])
    run = RawRun.load(settings.raw_dir / DATASET / inc.run_id)
    assert {f["name"] for f in run.manifest["source"]["files"]} == {s.name for s in day.specs}
    assert len(iceberg.load_catalog(settings).load_table(("curated", DATASET)).snapshots()) == 3


def test_a_day_without_new_files_publishes_nothing_new(settings, drop):
    spec = spec_for(drop.files[0].parent)
    first = pipeline.run_dataset(spec, settings, use_gx=False)
    empty = pipeline.run_dataset(spec, settings, use_gx=False)
    assert (empty.extracted, empty.total_rows) == (0, first.total_rows)


def test_schema_drift_extra_kept_missing_required_blocks(settings, tmp_path):
    folder = tmp_path / "drift"
    good = {"enterprise_code": "2058654677", "unit_type": "doanh nghiệp",
            "name": "Công ty cổ phần Nông nghiệp Ấp Chợ", "legal_form": "cổ phần",
            "status_code": "00", "address": "Số 102, đường Nguyễn Trãi", "commune_code": "32185",
            "commune_code_era": "2025", "owner_personal_id": "096181060426",
            "sector_code": "0111", "registered_date": "2012-10-07",
            "updated_at": "2024-03-02T11:28:42+07:00"}
    rows = [good, {**good, "enterprise_code": "2058654677-001", "unit_type": "chi nhánh"}]
    write_atomically(folder, "extra.csv", _csv([*NEW_HEADERS, "Số điện thoại"],
                                               [[*(r[c] for c in COLUMNS), "0290 3831 234"]
                                                for r in rows]).encode("utf-8-sig"))
    spec = spec_for(folder)
    summary = pipeline.run_dataset(spec, settings, use_gx=False)
    assert not summary.blocked and summary.total_rows == 2
    run = RawRun.load(settings.raw_dir / DATASET / summary.run_id)
    assert run.manifest["schema_drift"] == {"extra_columns": ["Số điện thoại"],
                                            "missing_columns": []}
    kept = duckdb.sql(f"SELECT DISTINCT \"Số điện thoại\" FROM read_parquet("
                      f"{[str(f) for f in run.files]})").fetchall()
    assert kept == [("0290 3831 234",)]

    # A drop whose files lack a required column: the gate blocks, naming it.
    later = tmp_path / "missing"
    no_owner = [h for h in NEW_HEADERS if h != "Số định danh chủ sở hữu"]
    other = {**good, "enterprise_code": "2013200874"}
    partial = _csv(no_owner, [[other[c] for c in COLUMNS if c != "owner_personal_id"]])
    write_atomically(later, "no_owner.csv", partial.encode("utf-8"))
    blocked = pipeline.run_dataset(spec_for(later), settings, use_gx=False)
    assert blocked.blocked
    assert "owner_personal_id" in blocked.block_reasons[0]
    assert "missing from the source" in blocked.block_reasons[0]
    assert _gate(settings, blocked.run_id).drift["missing_columns"] == ["owner_personal_id"]
    ledger = StateStore(settings.state_dir).get(DATASET).extra["file_drop"]["ingested"]
    assert [e["name"] for e in ledger.values()] == ["extra.csv"], "blocked file not marked"
    # Fixed (replaced under the same name): the next run publishes it.
    fixed = DropFileSpec(name="no_owner.csv", encoding="utf-8", headers=NEW_HEADERS,
                         records=[{**good, "enterprise_code": "2013200874"}])
    write_atomically(later, "no_owner.csv", csv_bytes(fixed))
    done = pipeline.run_dataset(spec_for(later), settings, use_gx=False)
    assert not done.blocked and done.total_rows == 3


def test_corrupt_file_fails_the_run_and_the_fixed_drop_publishes(settings, drop):
    folder = drop.files[0].parent
    whole = csv_bytes(drop.specs[0])
    cut = whole[: whole.rindex(b"\r\n", 0, len(whole) - 2) + 20]  # last record cut short
    write_atomically(folder, "dkkd_20261101_07.csv", cut)
    rows_in_cut = cut.count(b"\r\n") + 1
    with pytest.raises(MalformedFile, match=f"dkkd_20261101_07.csv: row {rows_in_cut}: "):
        pipeline.run_dataset(spec_for(folder), settings, use_gx=False)
    _nothing_published(settings)
    (folder / "dkkd_20261101_07.csv").unlink()
    summary = pipeline.run_dataset(spec_for(folder), settings, use_gx=False)
    assert summary.extracted == len(drop.records) and not summary.blocked


def test_folder_going_away_mid_extract_publishes_nothing_and_next_run_completes(
        settings, drop, tmp_path):
    folder = drop.files[0].parent
    spec = spec_for(folder, batch_rows=5)
    away = tmp_path / "unmounted"

    def unmount_after_first_batch(rows: int) -> None:
        if folder.exists():
            shutil.move(folder, away)

    with pytest.raises(ConnectorError, match="is gone now"):
        pipeline.run_dataset(spec, settings, progress=unmount_after_first_batch, use_gx=False)
    _nothing_published(settings)
    shutil.move(away, folder)
    summary = pipeline.run_dataset(spec, settings, use_gx=False)
    assert summary.extracted == len(drop.records) and not summary.blocked
    assert len(list(committed_runs(settings.raw_dir, DATASET))) == 1


def test_airflow_dag_for_the_spec():
    from lgsp.dag_factory import build_dag

    dag = build_dag(get_spec(DATASET))
    assert dag.dag_id == "lgsp_business_registry"
    assert [t.task_id for t in dag.topological_sort()][:2] == ["extract", "validate"]


def test_simulation_exports_the_drop_folder_and_never_rewrites_it(settings):
    from registries.business.simulation import ENV_FOLDER, simulate

    with simulate(size=SIZE, seed=SEED) as env:
        folder = Path(env[ENV_FOLDER])
        assert folder.is_relative_to(settings.home)
        names = [f"dkkd_20261101_0{i}.{'xlsx' if i in (2, 6) else 'csv'}" for i in range(1, 7)]
        assert sorted(p.name for p in folder.iterdir()) == names
        written = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}
    assert json.loads(json.dumps(env))  # plain strings, for the environment
    # The next `lgsp run` starts it again on the same home: the same folder, nothing rewritten.
    with simulate(size=SIZE, seed=SEED) as again:
        assert again == env
        assert {p.name: (p.stat().st_mtime_ns, p.read_bytes())
                for p in folder.iterdir()} == written


def test_a_days_files_have_the_same_bytes_whenever_they_are_written(tmp_path):
    """Workbooks carry the day's time, not the clock's: a re-drop is the same file."""
    import time

    first = initial_drop(tmp_path / "a", SIZE, SEED, AS_OF)
    time.sleep(1.1)  # past the second the first workbooks were saved in
    second = initial_drop(tmp_path / "b", SIZE, SEED, AS_OF)
    assert [(p.name, p.read_bytes()) for p in first.files] == [
        (p.name, p.read_bytes()) for p in second.files]
