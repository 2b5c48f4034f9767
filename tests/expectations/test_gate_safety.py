"""The gate's own safety nets, each with an input that trips it: critical checks block,
raw checksums are verified, raw = curated + quarantined + deletions is counted from the
files written, and the staged files carry checksums (relative to LGSP_HOME) that publish
verifies before it registers anything."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.state import StateStore
from expectations.gate import GATE_FILE, GateError, GateResult, StagedFileError, run_gate
from tests.expectations.test_gate_population import GOOD, person
from warehouse import iceberg
from warehouse.publish import publish
from warehouse.raw_zone import MANIFEST, ROW_COLUMN, RawRun


def test_a_critical_check_blocks_even_when_few_rows_fail(population_spec, settings,
                                                         raw_run_factory):
    # One row in ten fails the critical `castable updated_at` check: 10 % quarantined is
    # under the 20 % limit, so only the critical severity can block this run.
    rows = [person() for _ in range(9)] + [person(updated_at="yesterday at noon")]
    gate = run_gate(population_spec, raw_run_factory(population_spec, rows), settings,
                    use_gx=False)
    assert (gate.curated_rows, gate.quarantined_rows) == (9, 1)
    assert gate.blocked
    assert gate.block_reasons == [gate.block_reasons[0]]
    assert gate.block_reasons[0].startswith("critical check ")
    assert "updated_at" in gate.block_reasons[0] and "on 1 row(s)" in gate.block_reasons[0]


def test_a_raw_file_changed_after_the_extract_fails_the_gate_naming_it(
        population_spec, settings, raw_run_factory):
    run = raw_run_factory(population_spec, [GOOD, person(), person()])
    part = run.files[0]
    # A valid Parquet file with one value changed: readable, so only the checksum tells.
    table = pq.read_table(part)
    names = table.column("full_name").to_pylist()
    names[1] = "Người Khác"
    pq.write_table(table.set_column(table.schema.get_field_index("full_name"), "full_name",
                                    pa.array(names, pa.string())), part)
    with pytest.raises(ValueError, match=rf"{part.name}: checksum mismatch"):
        run_gate(population_spec, RawRun.load(run.path), settings, use_gx=False)
    assert not (settings.quality_dir / "population" / run.run_id / GATE_FILE).exists()


def test_raw_rows_the_files_do_not_account_for_fail_the_gate(population_spec, settings,
                                                            raw_run_factory):
    # The manifest says one row more than the part files hold (a writer that lost a batch).
    run = raw_run_factory(population_spec, [GOOD, person(), person(personal_id="0030850")])
    manifest = json.loads((run.path / MANIFEST).read_text("utf-8"))
    manifest["row_count"] += 1
    (run.path / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(GateError, match=r"raw rows 4 != curated 2 \+ quarantined 1 \+ "
                                        r"deletions 0"):
        run_gate(population_spec, RawRun.load(run.path), settings, use_gx=False)


def test_rows_vanishing_from_curated_are_counted_not_inferred(population_spec, settings,
                                                             raw_run_factory):
    # Two part files that both number their rows from 1: the bad row's number is also a
    # good row's, so the anti-join on the row number drops a good row from curated (and
    # the semi-join puts it into quarantine). Curated inferred as "live minus blocked"
    # would still add up; counted in the files, it does not.
    run = raw_run_factory(population_spec, [person(), person(), person(), person()])
    bad = raw_run_factory(population_spec, [person(personal_id="003085001234")])
    second = run.path / "part-00001.parquet"
    (bad.path / "part-00000.parquet").rename(second)
    manifest = json.loads((run.path / MANIFEST).read_text("utf-8"))
    from warehouse.raw_zone import _sha256

    manifest["files"].append({"name": second.name, "rows": 1, "sha256": _sha256(second)})
    manifest["row_count"] = 5
    (run.path / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    assert pq.read_table(second).column(ROW_COLUMN).to_pylist() == [1]
    with pytest.raises(GateError, match=r"quarantine.parquet holds 2 rows but the checks "
                                        r"blocked 1"):
        run_gate(population_spec, RawRun.load(run.path), settings, use_gx=False)


def _tombstone(row: dict[str, str | None]) -> dict[str, str | None]:
    return {"personal_id": row["personal_id"], "updated_at": "2026-11-05T00:00:00Z",
            "_deleted": "true"}


def test_gate_json_lists_each_staged_file_relative_to_home_with_its_checksum(
        population_spec, settings, raw_run_factory):
    import hashlib

    gone = person()
    rows = [GOOD, person(), person(personal_id="003085001234"), _tombstone(gone)]
    run = raw_run_factory(population_spec, rows)
    gate = run_gate(population_spec, run, settings, use_gx=False)
    text = (Path(gate.staging_dir) / GATE_FILE).read_text("utf-8")
    assert str(settings.home) not in text, "gate.json names no absolute path under the home"
    data = json.loads(text)
    assert data["staging_dir"] == f"quality/population/{run.run_id}"
    listed = {f["path"]: f for f in data["files"]}
    expected_rows = {"curated.parquet": 2, "quarantine.parquet": 1, "tombstones.parquet": 1}
    assert set(listed) == {f"quality/population/{run.run_id}/{n}" for n in expected_rows}
    for rel, entry in listed.items():
        path = settings.home / rel
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["rows"] == expected_rows[path.name] == pq.read_metadata(path).num_rows
    # Loaded back, the staging folder is where gate.json lies.
    assert GateResult.load(gate.staging_dir).staging_dir == gate.staging_dir


@pytest.mark.parametrize("name", ["curated.parquet", "quarantine.parquet", "tombstones.parquet"])
def test_publish_refuses_a_staged_file_changed_after_the_gate(name, population_spec, settings,
                                                              raw_run_factory):
    rows = [GOOD, *(person() for _ in range(5)), person(personal_id="003085001234"),
            _tombstone(person())]
    run = raw_run_factory(population_spec, rows)
    gate = run_gate(population_spec, run, settings, use_gx=False)
    assert not gate.blocked, gate.block_reasons
    staged = Path(gate.staging_dir) / name
    data = bytearray(staged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped on disk
    staged.write_bytes(bytes(data))
    loaded = GateResult.load(gate.staging_dir)
    with pytest.raises(StagedFileError,
                       match=rf"^quality/population/{run.run_id}/{name}: checksum mismatch"):
        publish(population_spec, run, loaded, settings)
    catalog = iceberg.load_catalog(settings)
    assert not catalog.table_exists(("curated", "population"))
    assert not catalog.table_exists(("quarantine", "population"))
    assert StateStore(settings.state_dir).get("population").watermark is None


def test_publish_refuses_a_missing_staged_file_and_a_gate_without_checksums(
        population_spec, settings, raw_run_factory):
    run = raw_run_factory(population_spec, [GOOD, person()])
    gate = run_gate(population_spec, run, settings, use_gx=False)
    staging = Path(gate.staging_dir)
    (staging / "quarantine.parquet").unlink()
    with pytest.raises(StagedFileError, match=r"quarantine.parquet: staged file missing"):
        publish(population_spec, run, GateResult.load(staging), settings)

    # A gate.json of an older version: absolute staging path, no checksums. It loads (the
    # staging folder is where it lies) but is not trusted for publishing.
    gate = run_gate(population_spec, run, settings, use_gx=False)
    data = json.loads((staging / GATE_FILE).read_text("utf-8"))
    data["staging_dir"] = "/somewhere/else/entirely"
    data.pop("files")
    (staging / GATE_FILE).write_text(json.dumps(data), "utf-8")
    old = GateResult.load(staging)
    assert Path(old.staging_dir) == staging.resolve() and old.curated_rows == 2
    with pytest.raises(StagedFileError, match=r"curated.parquet: gate.json of run .* holds no "
                                              r"checksum"):
        publish(population_spec, run, old, settings)
    assert not iceberg.load_catalog(settings).table_exists(("curated", "population"))
