"""Log-based change capture (`pg_logical`) against the timestamp connector (`sql`) on the same
100k changes: a table of parcels in a PostgreSQL server with wal_level = logical started for
the bench (registries/land/logical_server.py), both connectors loaded once, then `changes`
updates in transactions of 1,000 rows, then each connector's extract of those changes in its
own process (changes/s, peak RSS).

Run: uv run python -m bench cdc [--size 100000]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import emit, run_contender, timed

DATABASE = "lgsp_bench_cdc"


def _spec(dsn: str, connector: str) -> Any:
    from catalog.spec import get_spec

    spec = get_spec("land_parcels")
    params = {**spec.source.params, "dsn": dsn}
    if connector == "pg_logical":
        params = {"dsn": dsn, "table": "parcels"}
    source = spec.source.model_copy(update={"connector": connector, "params": params})
    return spec.model_copy(update={"source": source})


def load(server: str, size: int) -> None:
    from registries.land.database import LandDatabase
    from registries.land.generator import generate_land

    def go() -> int:
        db = LandDatabase(DATABASE, "postgresql", server=server)
        data = generate_land(size * 2, 42, synthetic=True)
        db.load(data)
        return len(data.parcels)

    emit([timed("generate + load PostgreSQL (wal_level=logical)", go)])


def first(dsn: str, home: str, connector: str) -> None:
    os.environ["LGSP_HOME"] = home
    from lgsp import pipeline
    from lgsp.config import Settings

    settings = Settings.from_env()
    emit([timed(f"{connector}: initial load published (setup)", lambda: pipeline.run_dataset(
        _spec(dsn, connector), settings, use_gx=False).total_rows)])


def change(dsn: str, changes: int) -> None:
    import psycopg

    def go() -> int:
        with psycopg.connect(dsn, autocommit=True) as con:
            keys = [r[0] for r in con.execute(
                f"SELECT parcel_id FROM parcels ORDER BY md5(parcel_id) LIMIT {changes}")]
            for start in range(0, len(keys), 1000):
                con.execute("UPDATE parcels SET area_m2 = area_m2 + 1, updated_at = now() "
                            "WHERE parcel_id = ANY(%s)", (keys[start:start + 1000],))
        return len(keys)

    emit([timed("changes: updates in transactions of 1,000 (setup)", go)])


def extract(dsn: str, home: str, connector: str) -> None:
    os.environ["LGSP_HOME"] = home
    from lgsp import pipeline
    from lgsp.config import Settings

    settings = Settings.from_env()
    emit([timed(f"{connector}: extract the changes", lambda: pipeline.extract(
        _spec(dsn, connector), settings).row_count)])


def run(size: int = 100_000) -> list[dict[str, Any]]:
    from registries.land.database import LandDatabase
    from registries.land.logical_server import logical_server

    results: list[dict[str, Any]] = []
    env = dict(os.environ)
    with logical_server() as server, tempfile.TemporaryDirectory(prefix="lgsp-bench-cdc-") as tmp:
        dsn = LandDatabase(DATABASE, "postgresql", server=server).dsn
        out = run_contender("bench.pg_logical", ["load", server, str(size)], env=env)
        results += [{"approach": "setup", **s} for s in out["stages"]]
        for connector in ("pg_logical", "sql"):
            out = run_contender("bench.pg_logical", ["first", dsn, str(Path(tmp) / connector),
                                                     connector], env=env)
            results += [{"approach": "setup", **s} for s in out["stages"]]
        out = run_contender("bench.pg_logical", ["change", dsn, str(size)], env=env)
        results += [{"approach": "setup", **s} for s in out["stages"]]
        for connector in ("pg_logical", "sql"):
            out = run_contender("bench.pg_logical", ["extract", dsn, str(Path(tmp) / connector),
                                                     connector], env=env)
            results += [{"approach": connector, **s} for s in out["stages"]]
    return results


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "load":
        load(args[0], int(args[1]))
    elif command == "first":
        first(args[0], args[1], args[2])
    elif command == "change":
        change(args[0], int(args[1]))
    elif command == "extract":
        extract(args[0], args[1], args[2])
