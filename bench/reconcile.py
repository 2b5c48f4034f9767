"""Reconciliation of the land registry's parcels (1 M in PostgreSQL): a full compare of source
and curated by key and row hash that repairs drift (issue 11). The table is loaded and
published once (setup), then drift no incremental read sees is made (rows changed under their
old timestamps, rows deleted without a deletion-log row, rows inserted with an old
timestamp), and `warehouse.reconcile.reconcile` runs in its own process (seconds, peak RSS).

Run: uv run python -m bench reconcile [--size 1000000]
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import emit, run_contender, timed

DATABASE = "lgsp_bench_reconcile"
DRIFT = 1000
"""Rows of each kind of drift: updated, deleted, inserted."""


def _spec(dsn: str) -> Any:
    from catalog.spec import get_spec

    spec = get_spec("land_parcels")
    params = {**spec.source.params, "dsn": dsn}
    return spec.model_copy(update={"source": spec.source.model_copy(update={"params": params})})


def load(size: int, seed: int) -> None:
    from registries.land.database import LandDatabase
    from registries.land.generator import generate_land

    def go() -> int:
        db = LandDatabase(DATABASE, "postgresql")
        data = generate_land(size * 2, seed, synthetic=True)  # parcels = half the people
        db.load(data)
        return len(data.parcels)

    emit([timed("generate + load PostgreSQL", go)])


def publish(dsn: str, home: str) -> None:
    os.environ["LGSP_HOME"] = home
    from lgsp import pipeline
    from lgsp.config import Settings

    settings = Settings.from_env()
    emit([timed("first load published (setup)", lambda: pipeline.run_dataset(
        _spec(dsn), settings, use_gx=False, until=datetime(2026, 11, 2, tzinfo=UTC)).total_rows)])


def drift(dsn: str) -> None:
    import psycopg

    def go() -> int:
        with psycopg.connect(dsn) as con:
            keys = [r[0] for r in con.execute(
                f"SELECT parcel_id FROM parcels ORDER BY md5(parcel_id) LIMIT {3 * DRIFT}")]
            con.execute("UPDATE parcels SET area_m2 = area_m2 + 1 WHERE parcel_id = ANY(%s)",
                        (keys[:DRIFT],))
            con.execute("DELETE FROM parcels WHERE parcel_id = ANY(%s)", (keys[DRIFT:2 * DRIFT],))
            con.execute("INSERT INTO parcels SELECT commune_code || '-' || map_sheet || '-' || "
                        "(parcel_number + 5000000), commune_code, commune_code_era, "
                        "legacy_commune_code, map_sheet, parcel_number + 5000000, area_m2, "
                        "land_use_code, land_use_code_list, address, updated_at "
                        "FROM parcels WHERE parcel_id = ANY(%s)", (keys[2 * DRIFT:],))
        return 3 * DRIFT

    emit([timed("drift: updated, deleted, inserted under old timestamps (setup)", go)])


def reconcile(dsn: str, home: str) -> None:
    os.environ["LGSP_HOME"] = home
    from lgsp.config import Settings
    from warehouse.reconcile import reconcile as run

    settings = Settings.from_env()
    found: dict[str, int] = {}

    def go() -> int:
        r = run(_spec(dsn), settings)
        found.update(inserted=r.inserted, updated=r.updated, removed=r.removed)
        return r.source_rows

    emit([timed("reconcile: full read + gate + compare + repair", go)], found=found)


def run(size: int = 1_000_000, seed: int = 42) -> list[dict[str, Any]]:
    from registries.land.database import LandDatabase

    db = LandDatabase(DATABASE, "postgresql")
    env = dict(os.environ)
    results: list[dict[str, Any]] = []
    out = run_contender("bench.reconcile", ["load", str(size), str(seed)], env=env)
    results += [{"approach": "setup", **s} for s in out["stages"]]
    try:
        with tempfile.TemporaryDirectory(prefix="lgsp-bench-reconcile-") as tmp:
            home = str(Path(tmp) / "home")
            for step in (["publish", db.dsn, home], ["drift", db.dsn]):
                out = run_contender("bench.reconcile", step, env=env)
                results += [{"approach": "setup", **s} for s in out["stages"]]
            out = run_contender("bench.reconcile", ["reconcile", db.dsn, home], env=env)
            results += [{"approach": f"lgsp (found {out['found']})", **s} for s in out["stages"]]
    finally:
        db.drop()
    return results


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "load":
        load(int(args[0]), int(args[1]))
    elif command == "publish":
        publish(args[0], args[1])
    elif command == "drift":
        drift(args[0])
    elif command == "reconcile":
        reconcile(args[0], args[1])
