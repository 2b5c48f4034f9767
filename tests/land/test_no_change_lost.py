"""No change lost (issue 11): late commits, a source clock behind ours, second-precision
columns, delete + re-insert under one timestamp, naive local timestamps and a row re-stamped
while paging, each on real PostgreSQL and MariaDB through the SQL connector and the pipeline.
After the runs curated must equal the source exactly (keys, values, no ghosts) and the
quarantine hold only the registry's real defects."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors import sql as sql_connector
from connectors.state import StateStore
from lgsp import pipeline
from registries.land.database import LandDatabase
from registries.land.generator import QUARANTINED, LandData
from tests.land.conftest import LOADED, spec_for
from warehouse.query import curated_connection


def _rejected(land_data: LandData) -> set[str]:
    return {key.split(":", 1)[1] for key, kind in land_data.defects.items()
            if key.startswith("parcel:") and kind in QUARANTINED}


def _clean(db: LandDatabase, land_data: LandData, n: int) -> list[str]:
    defective = {k.split(":", 1)[1] for k in land_data.defects if k.startswith("parcel:")}
    keys = [r[0] for r in db.execute("SELECT parcel_id FROM parcels ORDER BY parcel_id")]
    return [k for k in keys if k not in defective][:n]


def _instant(value: Any) -> datetime:
    """A source timestamp of the standard schema (timestamptz, or DATETIME(6) holding UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _source(db: LandDatabase) -> dict[str, tuple[Any, ...]]:
    return {r[0]: (r[1], float(r[2]) if isinstance(r[2], Decimal) else r[2], r[3], _instant(r[4]))
            for r in db.execute("SELECT parcel_id, land_use_code, area_m2, address, updated_at "
                                "FROM parcels")}


def _curated(settings) -> dict[str, tuple[Any, ...]]:
    return {r[0]: tuple(r[1:]) for r in curated_connection(settings).execute(
        "SELECT parcel_id, land_use_code, area_m2, address, updated_at FROM land_parcels").fetchall()}


def assert_mirrors(db: LandDatabase, settings, land_data: LandData,
                   held: frozenset[str] = frozenset()) -> None:
    """Curated holds every clean source row with its current values and nothing else; the
    quarantine holds only rows the registry really got wrong (no duplicate copies). `held`:
    keys whose current source row is defective, whose last good version curated keeps."""
    rejected = _rejected(land_data) | held
    expected = {k: v for k, v in _source(db).items() if k not in rejected}
    curated = {k: v for k, v in _curated(settings).items() if k not in held}
    assert set(curated) - set(expected) == set(), "ghosts in curated"
    assert set(expected) - set(curated) == set(), "source rows missing from curated"
    stale = {k for k in expected if curated[k] != expected[k]}
    assert not stale, f"stale rows: {[(k, curated[k], expected[k]) for k in sorted(stale)[:3]]}"
    quarantined = curated_connection(settings).execute(
        "SELECT parcel_id, _reasons FROM land_parcels_quarantine").fetchall()
    assert {k for k, _ in quarantined} <= rejected | held
    assert not [r for _, r in quarantined if "duplicate" in r]


def _now_sql(db: LandDatabase) -> str:
    return "clock_timestamp()" if db.kind == "postgresql" else "NOW(6)"


def _stamp(db: LandDatabase, at: datetime) -> object:
    return at if db.kind == "postgresql" else at.astimezone(UTC).replace(tzinfo=None)


def _insert_copy(cur: Any, db: LandDatabase, source_key: str, new_key: str, stamp_sql: str,
                 params: tuple[object, ...] = ()) -> None:
    """A new parcel: a clean parcel's values under another key (same commune, sheet 90)."""
    commune = source_key.split("-", 1)[0]
    number = int(new_key.rsplit("-", 1)[1])
    cur.execute(
        "INSERT INTO parcels (parcel_id, commune_code, commune_code_era, legacy_commune_code, "
        "map_sheet, parcel_number, area_m2, land_use_code, land_use_code_list, address, updated_at) "
        "SELECT %s, commune_code, commune_code_era, legacy_commune_code, 90, %s, area_m2, "
        f"land_use_code, land_use_code_list, %s, {stamp_sql} FROM parcels WHERE parcel_id = %s",
        (new_key, number, f"Tờ 90, thửa {number}", *params, source_key))
    assert commune


def _delete(cur: Any, key: str, stamp_sql: str, params: tuple[object, ...] = ()) -> None:
    cur.execute("DELETE FROM parcels WHERE parcel_id = %s", (key,))
    cur.execute("INSERT INTO deleted_records (table_name, record_key, deleted_at) "
                f"VALUES ('parcels', %s, {stamp_sql})", (key, *params))


def _new_key(source_key: str, number: int) -> str:
    return f"{source_key.split('-', 1)[0]}-90-{number}"


def _stamp_by_trigger(db: LandDatabase) -> None:
    """The registry's own trigger sets updated_at on every insert and update."""
    if db.kind == "postgresql":
        db.execute("CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$")
        db.execute("CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON parcels "
                   "FOR EACH ROW EXECUTE FUNCTION stamp()")
    else:
        for event in ("INSERT", "UPDATE"):
            db.execute(f"CREATE TRIGGER stamp_{event.lower()} BEFORE {event} ON parcels "
                       "FOR EACH ROW SET NEW.updated_at = NOW(6)")


@pytest.mark.parametrize("stamped_by", ["statement", "trigger"])
def test_case1_late_commit_of_a_transaction_open_during_the_read(db, land_data, settings,
                                                                 stamped_by):
    spec = spec_for("land_parcels", db, batch_rows=250)
    pipeline.run_dataset(spec, settings, use_gx=False)
    updated, deleted, model = _clean(db, land_data, 3)
    new = _new_key(model, 990_001)
    now = _now_sql(db)
    if stamped_by == "trigger":
        _stamp_by_trigger(db)
        now = "'2000-01-01'"  # overwritten by the trigger
    with db.connect() as con, con.cursor() as cur:  # committed when the block ends
        cur.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
                    f"updated_at = {now} WHERE parcel_id = %s", (updated,))
        _insert_copy(cur, db, model, new, now)
        _delete(cur, deleted, _now_sql(db))  # the deletion log has no trigger
        during = pipeline.run_dataset(spec, settings, use_gx=False)  # reads while it is open
        assert not during.blocked
    if db.kind == "mariadb":
        # MariaDB lists running transactions through a cache refreshed every 0.1 s, so its
        # safe bound keeps a second's margin: the next runs read once that second has passed.
        time.sleep(1.2)
    for _ in range(2):
        pipeline.run_dataset(spec, settings, use_gx=False)
    assert_mirrors(db, settings, land_data)
    assert new in _curated(settings) and deleted not in _curated(settings)


def test_case2_source_clock_behind_ours_and_a_late_deletion_log_row_within_lag(db, land_data,
                                                                                settings):
    spec = spec_for("land_parcels", db, batch_rows=250, lag="10s")
    pipeline.run_dataset(spec, settings, use_gx=False)
    watermark = StateStore(settings.state_dir).get("land_parcels").watermark
    assert watermark is not None
    updated, deleted = _clean(db, land_data, 2)
    # After the run, an application whose clock is 5 s behind the database's stamps its
    # change (and a deletion-log row with the real deletion time) before the watermark.
    with db.connect() as con, con.cursor() as cur:
        cur.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
                    "updated_at = %s WHERE parcel_id = %s",
                    (_stamp(db, watermark - timedelta(seconds=4)), updated))
        _delete(cur, deleted, "%s", (_stamp(db, watermark - timedelta(seconds=3)),))
    pipeline.run_dataset(spec, settings, use_gx=False)
    assert_mirrors(db, settings, land_data)


def test_case3_second_precision_change_column(db, land_data, settings):
    if db.kind == "postgresql":
        db.execute("ALTER TABLE parcels ALTER COLUMN updated_at TYPE timestamptz(0)")
    else:
        db.execute("ALTER TABLE parcels MODIFY updated_at DATETIME NOT NULL")
    spec = spec_for("land_parcels", db, batch_rows=250)
    until = LOADED + timedelta(milliseconds=500)
    pipeline.run_dataset(spec, settings, use_gx=False, until=until)
    # An autocommit update 0.19 s after `until`, stored at the whole second before it.
    (updated,) = _clean(db, land_data, 1)
    db.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
               "updated_at = %s WHERE parcel_id = %s", (_stamp(db, LOADED), updated))
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=1))
    assert_mirrors(db, settings, land_data)


def test_case4_delete_and_reinsert_under_one_timestamp_and_a_restored_row(db, land_data,
                                                                          settings):
    spec = spec_for("land_parcels", db, batch_rows=250)
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    reinserted, restored = _clean(db, land_data, 2)
    at = _stamp(db, LOADED + timedelta(hours=1))
    with db.connect() as con, con.cursor() as cur:  # one transaction, one timestamp
        cur.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024' "
                    "WHERE parcel_id = %s", (reinserted,))
        cur.execute("CREATE TEMPORARY TABLE keep AS SELECT * FROM parcels WHERE parcel_id = %s",
                    (reinserted,))
        _delete(cur, reinserted, "%s", (at,))
        cur.execute("INSERT INTO parcels SELECT * FROM keep")
        cur.execute("UPDATE parcels SET updated_at = %s WHERE parcel_id = %s", (at, reinserted))
    with db.connect() as con, con.cursor() as cur:  # deleted, then restored as it was
        cur.execute("CREATE TEMPORARY TABLE kept AS SELECT * FROM parcels WHERE parcel_id = %s",
                    (restored,))
        _delete(cur, restored, "%s", (at,))
        cur.execute("INSERT INTO parcels SELECT * FROM kept")
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=1))
    assert_mirrors(db, settings, land_data)
    # A full re-read brings the same table (the deletion-log rows are not applied again).
    StateStore(settings.state_dir).reset("land_parcels")
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=1))
    assert_mirrors(db, settings, land_data)
    assert _curated(settings)[reinserted][0] == "ODT"


def test_case7_row_restamped_while_paging_is_delivered_once(db, land_data, settings, monkeypatch):
    spec = spec_for("land_parcels", db, batch_rows=100, paging="keyset", lag="2d")
    reader = sql_connector._PostgresReader if db.kind == "postgresql" else sql_connector._MariaDbReader
    original = reader.page
    rejected = _rejected(land_data)
    restamped: list[str] = []

    def page_then_restamp(self, names, order, window, last):  # type: ignore[no-untyped-def]
        table = original(self, names, order, window, last)
        if not restamped:  # the first page is read: a row on it is changed before `until`
            key = next(k for k in table.column("parcel_id").to_pylist() if k not in rejected)
            db.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
                       "updated_at = %s WHERE parcel_id = %s",
                       (_stamp(db, LOADED - timedelta(seconds=1)), key))
            restamped.append(key)
        return table

    monkeypatch.setattr(reader, "page", page_then_restamp)
    first = pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
    assert restamped and first.extracted == len(land_data.parcels)
    pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(days=1))
    assert_mirrors(db, settings, land_data)
    assert _curated(settings)[restamped[0]][0] == "ODT"


ZONE = "Asia/Ho_Chi_Minh"
TZ_CASES = [("postgresql", "timestamp"), ("postgresql", "timestamptz"),
            ("postgresql", "timestamp(0)"), ("mariadb", "DATETIME"), ("mariadb", "DATETIME(6)"),
            ("mariadb", "TIMESTAMP")]


def _retype(db: LandDatabase, column_type: str) -> None:
    """The change columns of parcels and the deletion log as `column_type`, naive ones holding
    Vietnam wall-clock time (+07:00), zone-aware ones the same instants."""
    for table, column in (("parcels", "updated_at"), ("deleted_records", "deleted_at")):
        if db.kind == "postgresql":
            using = f"{column} AT TIME ZONE '{ZONE}'" if "tz" not in column_type else column
            db.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {column_type} USING {using}")
        elif column_type.startswith("DATETIME"):
            with db.connect() as con, con.cursor() as cur:
                cur.execute(f"ALTER TABLE {table} MODIFY {column} DATETIME(6) NOT NULL")
                cur.execute(f"UPDATE {table} SET {column} = {column} + INTERVAL 7 HOUR")
                cur.execute(f"ALTER TABLE {table} MODIFY {column} {column_type} NOT NULL")
        else:
            with db.connect() as con, con.cursor() as cur:
                cur.execute("SET time_zone = '+00:00'")
                cur.execute(f"ALTER TABLE {table} MODIFY {column} {column_type} NOT NULL "
                            "DEFAULT CURRENT_TIMESTAMP")


def _source_instants(db: LandDatabase, column_type: str) -> dict[str, datetime]:
    """parcel_id -> updated_at as a UTC instant, computed by the database itself."""
    if db.kind == "postgresql":
        expr = "updated_at" if "tz" in column_type else f"updated_at AT TIME ZONE '{ZONE}'"
        return {k: v.astimezone(UTC).replace(tzinfo=None)
                for k, v in db.execute(f"SELECT parcel_id, {expr} FROM parcels")}
    with db.connect() as con, con.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        expr = ("CONVERT_TZ(updated_at, '+07:00', '+00:00')" if column_type.startswith("DATETIME")
                else "updated_at")
        cur.execute(f"SELECT parcel_id, {expr} FROM parcels")
        return dict(cur.fetchall())


@pytest.mark.parametrize(("kind", "column_type"), TZ_CASES)
def test_case6_naive_local_timestamps_compared_in_the_source_terms_stored_as_instants(
        kind, column_type, land_data, settings):
    db = LandDatabase(f"lgsp_land_test_{uuid.uuid4().hex[:10]}", kind)
    db.load(land_data)
    try:
        _retype(db, column_type)
        spec = spec_for("land_parcels", db, batch_rows=250, timezone=ZONE)
        pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED)
        (changed,) = _clean(db, land_data, 1)
        # A change one hour after LOADED, stamped in the column's own terms.
        at = LOADED + timedelta(hours=1)
        naive = kind == "postgresql" and "tz" not in column_type or column_type.startswith("DATETIME")
        stamp = (at.astimezone(UTC) + timedelta(hours=7)).replace(tzinfo=None) if naive else (
            at if kind == "postgresql" else at.replace(tzinfo=None))
        with db.connect() as con, con.cursor() as cur:
            if kind == "mariadb":
                cur.execute("SET time_zone = '+00:00'")
            cur.execute("UPDATE parcels SET land_use_code = 'ODT', land_use_code_list = '2024', "
                        "updated_at = %s WHERE parcel_id = %s", (stamp, changed))
        pipeline.run_dataset(spec, settings, use_gx=False, until=LOADED + timedelta(hours=2))
        instants = _source_instants(db, column_type)
        rejected = _rejected(land_data)
        curated = {k: v[3] for k, v in _curated(settings).items()}
        assert curated == {k: v for k, v in instants.items() if k not in rejected}
        assert curated[changed] == at.astimezone(UTC).replace(tzinfo=None)
        assert _curated(settings)[changed][0] == "ODT"
    finally:
        db.drop()
