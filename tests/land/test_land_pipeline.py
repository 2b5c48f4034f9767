"""The land registry end to end through the SQL connector, on real PostgreSQL and MariaDB:
defects quarantined with reasons, exact values, incremental pulls of updates, inserts and
deletes (tombstones), re-runs without duplicates, schema drift, a source that goes away
mid-extract, clear errors for a wrong table or database."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from connectors.base import ConnectorError
from connectors.state import StateStore
from lgsp import pipeline
from registries.land.generator import QUARANTINED
from tests.land.conftest import LOADED, spec_for
from warehouse import iceberg
from warehouse.query import curated_connection
from warehouse.raw_zone import RawRun


def _scalar(settings, sql: str):
    return curated_connection(settings).execute(sql).fetchone()[0]


def _nothing_published(settings, dataset: str) -> None:
    assert not iceberg.load_catalog(settings).table_exists(("curated", dataset))
    assert not [p for p in (settings.raw_dir / dataset).glob("*") if not p.name.startswith(".")]


@pytest.mark.parametrize("paging", ["keyset", "auto"])
def test_parcels_defects_values_incremental_deletes_and_rerun(db, land_data, settings, paging):
    # keyset: every read in pages of 250 rows; auto: the first (unbounded) window as one
    # ordered server-side stream cut into 250-row batches, later windows in keyset pages.
    spec = spec_for("land_parcels", db, batch_rows=250, paging=paging)
    first = pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    assert first.extracted == len(land_data.parcels) and not first.blocked
    rejected = {key.split(":", 1)[1] for key, kind in land_data.defects.items()
                if key.startswith("parcel:") and kind in QUARANTINED}
    con = curated_connection(settings)
    quarantined = dict(con.execute(
        "SELECT parcel_id, _reasons FROM land_parcels_quarantine").fetchall())
    assert set(quarantined) == rejected
    wrong_version = next(k.split(":", 1)[1] for k, v in land_data.defects.items()
                         if v == "code_wrong_version")
    assert quarantined[wrong_version] == (
        "land_use_code: 'LUN' is not in the 2024 code list (it belongs to another version)")
    assert first.total_rows == len(land_data.parcels) - len(rejected)

    # Values arrive exactly (numbers, UTC timestamps, Vietnamese text, NULLs).
    clean = [p for p in land_data.parcels if p["parcel_id"] not in rejected]
    curated = {r[0]: r[1:] for r in con.execute(
        "SELECT parcel_id, area_m2, map_sheet, updated_at, address, legacy_commune_code "
        "FROM land_parcels").fetchall()}
    for p in clean:
        area, sheet, updated, address, legacy = curated[p["parcel_id"]]
        assert (area, sheet, address, legacy) == (
            p["area_m2"], p["map_sheet"], p["address"], p["legacy_commune_code"])
        assert updated == p["updated_at"].replace(tzinfo=None)  # curated timestamps are UTC

    # A month of registry work: land-use changes, new parcels, deletions (tombstones).
    changes = db.advance(LOADED + timedelta(days=5), seed=1, updates=7, new=4, deletes=10)
    second = pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=30))
    assert second.extracted == len(changes.updated_parcels) + 4 + len(changes.deleted_parcels)
    first_run = RawRun.load(settings.raw_dir / "land_parcels" / first.run_id)
    assert first_run.manifest["source"]["pages"] == 3  # 600 rows in 250-row pages or batches
    run = RawRun.load(settings.raw_dir / "land_parcels" / second.run_id)
    assert run.manifest["source"]["tombstones"] == len(changes.deleted_parcels) > 0
    keys = {r[0] for r in curated_connection(settings).execute(
        "SELECT parcel_id FROM land_parcels").fetchall()}
    assert not keys & set(changes.deleted_parcels)
    # An update sets a 2024 land-use code: it repairs a record rejected only for its code.
    kinds = {k.split(":", 1)[1]: v for k, v in land_data.defects.items() if k.startswith("parcel:")}
    repaired = [p for p in changes.updated_parcels
                if kinds.get(p) in ("code_wrong_version", "unknown_code")]
    kept_updates = [p for p in changes.updated_parcels if p not in rejected] + repaired
    assert kept_updates and _scalar(
        settings, "SELECT count(*) FROM land_parcels WHERE land_use_code = 'ODT' AND "
                  f"updated_at = TIMESTAMPTZ '{(LOADED + timedelta(days=5)).isoformat()}'"
    ) == len(kept_updates)
    expected_total = (first.total_rows + 4 + len(repaired)
                      - len(set(changes.deleted_parcels) - rejected))
    assert second.total_rows == expected_total

    # The same window again (watermark reset, as when an Airflow run is cleared): no change.
    StateStore(settings.state_dir).reset("land_parcels")
    again = pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=30))
    assert again.total_rows == expected_total
    assert _scalar(settings, "SELECT count(*) - count(DISTINCT parcel_id) FROM land_parcels") == 0


def test_certificates_with_conditional_holder_checks(db, land_data, settings):
    spec = spec_for("land_certificates", db)
    summary = pipeline.run_dataset(spec, settings, until=LOADED)
    assert not summary.blocked
    quarantined = dict(curated_connection(settings).execute(
        "SELECT certificate_serial, _reasons FROM land_certificates_quarantine").fetchall())
    by_kind: dict[str, str] = {}
    for key, kind in land_data.defects.items():
        if key.startswith("certificate:"):
            by_kind.setdefault(kind, key.split(":", 1)[1])
    assert "is not 12 digits" in quarantined[by_kind["holder_id_bad_format"]]
    assert "is outside 1988-01-01 .. today" in quarantined[by_kind["issue_date_future"]]
    assert "is not a certificate serial" in quarantined[by_kind["serial_bad_format"]]
    assert by_kind["unknown_holder"] not in quarantined  # reported by a warn check, not rejected
    nfd = by_kind["holder_name_nfd"]
    name, raw = curated_connection(settings).execute(
        "SELECT holder_name, holder_name_raw FROM land_certificates WHERE certificate_serial = ?",
        [nfd]).fetchone()
    assert name != raw and len(name) < len(raw)
    # Enterprise holders are checked as tax codes, people as personal IDs.
    firms = _scalar(settings, "SELECT count(*) FROM land_certificates WHERE holder_type = 'enterprise'")
    assert firms > 0


def test_schema_drift_new_column_kept_missing_required_column_blocks(pg, land_data, settings):
    pg.execute("ALTER TABLE parcels ADD COLUMN survey_method varchar(20) DEFAULT 'GNSS RTK'")
    spec = spec_for("land_parcels", pg)
    summary = pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    run = RawRun.load(settings.raw_dir / "land_parcels" / summary.run_id)
    assert run.manifest["schema_drift"]["extra_columns"] == ["survey_method"]
    raw = curated_connection(settings).execute(
        f"SELECT DISTINCT survey_method FROM read_parquet('{run.path}/*.parquet')").fetchall()
    assert raw == [("GNSS RTK",)]  # kept in the raw zone, reported, not dropped silently

    pg.execute("ALTER TABLE parcels DROP COLUMN land_use_code")
    pg.execute("UPDATE parcels SET updated_at = %s", (LOADED + timedelta(days=1),))
    blocked = pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=2))
    assert blocked.blocked
    assert any("required column(s) land_use_code missing" in r for r in blocked.block_reasons)
    assert len(iceberg.load_catalog(settings).load_table(("curated", "land_parcels")).snapshots()) == 1


def test_source_going_away_mid_extract_publishes_nothing_and_next_run_completes(db, land_data,
                                                                                settings):
    # Keyset pages: each page is its own query, so the kill lands between pages (a small
    # table read as one stream would already sit in the socket buffer).
    spec = spec_for("land_parcels", db, batch_rows=50, paging="keyset")
    killed = []

    def kill_the_connection_after_the_first_page(rows: int) -> None:
        if not killed:
            if db.kind == "postgresql":
                killed.extend(db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (db.name,)))
            else:
                for (thread,) in db.execute(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE db = %s AND id <> CONNECTION_ID()", (db.name,)):
                    db.execute(f"KILL CONNECTION {int(thread)}")
                    killed.append(thread)

    with pytest.raises(ConnectorError) as err:
        pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED,
                             progress=kill_the_connection_after_the_first_page)
    assert killed
    message = str(err.value)
    read = re.search(r"table parcels: read failed after ([0-9,]+) rows: ", message)
    assert message.startswith("land_parcels: ") and read, message
    assert 50 <= int(read.group(1).replace(",", "")) < len(land_data.parcels)
    assert "password" not in message
    _nothing_published(settings, "land_parcels")
    summary = pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    assert summary.extracted == len(land_data.parcels) and not summary.blocked


def test_wrong_table_or_database_fail_with_the_source_named(pg, settings):
    with pytest.raises(ConnectorError, match="table thua_dat: the table does not exist"):
        pipeline.run_dataset(spec_for("land_parcels", pg, table="thua_dat"), settings, use_gx=False)
    with pytest.raises(ConnectorError, match="cannot connect to postgresql://postgres@127.0.0.1:5432/"
                                             "no_such_db table parcels"):
        spec = spec_for("land_parcels", pg, dsn="postgresql://postgres@127.0.0.1:5432/no_such_db")
        pipeline.run_dataset(spec, settings, use_gx=False)
    with pytest.raises(ConnectorError, match="column.s. version_ts needed for incremental keyset"):
        pipeline.run_dataset(spec_for("land_parcels", pg, updated_at="version_ts"), settings,
                             use_gx=False)
    _nothing_published(settings, "land_parcels")


def test_airflow_dag_for_the_specs():
    from catalog.spec import get_spec
    from lgsp.dag_factory import build_dag

    for dataset in ("land_parcels", "land_certificates"):
        dag = build_dag(get_spec(dataset))
        assert dag.dag_id == f"lgsp_{dataset}"
        assert [t.task_id for t in dag.topological_sort()][:2] == ["extract", "validate"]
        assert "connector:sql" in dag.tags
