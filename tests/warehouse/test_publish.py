"""Publishing to Iceberg: one snapshot per publish, idempotent re-publish, newest record
wins, quarantine recorded once per run, a blocked gate publishes nothing."""

from __future__ import annotations

import pytest

from connectors.state import StateStore
from expectations.gate import run_gate
from tests.expectations.test_gate_population import GOOD, person
from warehouse import iceberg
from warehouse.publish import PublishBlocked, publish
from warehouse.query import curated_connection


def _publish(spec, settings, factory, rows, **kw):
    run = factory(spec, rows, **kw)
    gate = run_gate(spec, run, settings, use_gx=False)
    return run, gate, publish(spec, run, gate, settings)


def _count(settings, sql):
    return curated_connection(settings).execute(sql).fetchone()[0]


def test_publish_republish_and_merge(population_spec, settings, raw_run_factory):
    spec = population_spec
    rows = [GOOD, person(), person(), person(), person(), person(personal_id="003085001234")]
    run, gate, result = _publish(spec, settings, raw_run_factory, rows)
    assert (result.published_rows, result.quarantined_rows, result.curated_rows_total) == (5, 1, 5)
    table = iceberg.load_catalog(settings).load_table(("curated", "population"))
    assert len(table.snapshots()) == 1
    assert table.current_snapshot().summary["lgsp.run_id"] == run.run_id

    # The same run again: a new snapshot, the same rows, no duplicates anywhere.
    publish(spec, run, gate, settings)
    assert _count(settings, "SELECT count(*) FROM population") == 5
    assert _count(settings, "SELECT count(DISTINCT personal_id) FROM population") == 5
    assert _count(settings, "SELECT count(*) FROM population_quarantine") == 1

    # A later run updates one person and adds one; an older copy never wins.
    moved = {**GOOD, "residence_commune_code": "31825", "residence_code_era": "2025",
             "updated_at": "2026-11-10T00:00:00Z"}
    stale = {**rows[1], "full_name": "Tên Cũ", "updated_at": "2020-01-01T00:00:00Z"}
    _publish(spec, settings, raw_run_factory, [moved, person(), stale])
    assert _count(settings, "SELECT count(*) FROM population") == 6
    assert _count(settings, f"SELECT residence_commune_code FROM population "
                            f"WHERE personal_id = '{GOOD['personal_id']}'") == "31825"
    assert _count(settings, "SELECT count(*) FROM population WHERE full_name = 'Tên Cũ'") == 0
    table = table.refresh()
    assert len(table.snapshots()) == 3


def test_time_travel_reads_the_earlier_snapshot(population_spec, settings, raw_run_factory):
    import time
    from datetime import UTC, datetime

    _publish(population_spec, settings, raw_run_factory, [GOOD])
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    _publish(population_spec, settings, raw_run_factory, [person(), person()])
    now = curated_connection(settings).execute("SELECT count(*) FROM population").fetchone()[0]
    then = curated_connection(settings, as_of=between).execute(
        "SELECT count(*) FROM population").fetchone()[0]
    assert (then, now) == (1, 3)


def test_blocked_gate_publishes_nothing_and_keeps_watermark(population_spec, settings,
                                                           raw_run_factory):
    bad = [person(personal_id=f"0030850{i:05d}") for i in range(4)]
    run = raw_run_factory(population_spec, bad)
    gate = run_gate(population_spec, run, settings, use_gx=False)
    assert gate.blocked
    with pytest.raises(PublishBlocked, match="above the limit"):
        publish(population_spec, run, gate, settings)
    catalog = iceberg.load_catalog(settings)
    assert not catalog.table_exists(("curated", "population"))
    assert StateStore(settings.state_dir).get("population").watermark is None


def test_watermark_advances_only_on_publish(population_spec, settings, raw_run_factory):
    run, gate, result = _publish(population_spec, settings, raw_run_factory, [GOOD],
                                 until="2026-11-02T00:00:00+00:00")
    state = StateStore(settings.state_dir).get("population")
    assert state.watermark.isoformat() == "2026-11-02T00:00:00+00:00"
    assert state.last_run_id == run.run_id


def _data_files(settings):
    table = iceberg.load_catalog(settings).load_table(("curated", "population"))
    return [iceberg.local_path(p) for p in iceberg.data_files(table)]


def test_first_load_registers_the_staged_file_as_it_is(population_spec, settings,
                                                       raw_run_factory):
    import hashlib
    from pathlib import Path

    rows = [GOOD, person(), person()]
    run, gate, result = _publish(population_spec, settings, raw_run_factory, rows)
    staged = Path(gate.staging_dir) / "curated.parquet"
    (published,) = _data_files(settings)
    digest = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (staged, published)]
    assert digest[0] == digest[1] and published != str(staged)
    assert _count(settings, "SELECT count(DISTINCT personal_id) FROM population") == 3
    # The next run merges: the table is rewritten, the staged file of the first run is not
    # what it serves any more, and nothing is duplicated.
    _publish(population_spec, settings, raw_run_factory, [person()])
    assert published not in _data_files(settings)
    assert _count(settings, "SELECT count(*) FROM population") == 4


def test_first_load_with_a_key_twice_is_deduplicated(population_spec, settings,
                                                     raw_run_factory):
    # Without the unique check, a key twice passes the gate: the publish must not register
    # the staged file as it is, but keep the newest record per key.
    checks = [c for c in population_spec.quality.checks if c.rule != "unique"]
    spec = population_spec.model_copy(update={
        "quality": population_spec.quality.model_copy(update={"checks": checks})})
    old = {**GOOD, "full_name": "Tên Cũ", "updated_at": "2020-01-01T00:00:00Z"}
    run, gate, result = _publish(spec, settings, raw_run_factory, [GOOD, old, person()])
    assert gate.curated_rows == 3
    assert _count(settings, "SELECT count(*) FROM population") == 2
    assert _count(settings, "SELECT count(*) FROM population WHERE full_name = 'Tên Cũ'") == 0


def test_a_table_written_before_identifier_normalisation_merges_on(population_spec, settings,
                                                                  raw_run_factory):
    """Day two on an existing home: the table has no personal_id_raw yet (the spec gained
    `normalize: identifier`); the next run merges, old rows get NULL there, new rows their
    value as delivered, and the noisy key matches the clean one already published."""
    assert population_spec.column("personal_id").normalize == "identifier"
    before = population_spec.model_copy(update={"columns": [
        c.model_copy(update={"normalize": None}) if c.name == "personal_id" else c
        for c in population_spec.columns]})
    other = person()
    _publish(before, settings, raw_run_factory, [GOOD, other])
    moved = {**GOOD, "personal_id": GOOD["personal_id"] + "\u00a0",
             "residence_commune_code": "31825", "residence_code_era": "2025",
             "updated_at": "2026-11-10T00:00:00Z"}
    _, gate, result = _publish(population_spec, settings, raw_run_factory, [moved])
    assert (result.published_rows, result.curated_rows_total) == (1, 2)
    assert gate.normalised_identifiers["personal_id"] == 1
    rows = dict(curated_connection(settings).execute(
        "SELECT personal_id, personal_id_raw FROM population").fetchall())
    assert rows == {GOOD["personal_id"]: GOOD["personal_id"] + "\u00a0", other["personal_id"]: None}
