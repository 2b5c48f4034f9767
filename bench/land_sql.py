"""The land registry (1 M parcels in PostgreSQL) through the SQL connector, side by side with
dlt's sql_database source writing Parquet, with its three backends (sqlalchemy = dlt's
default, pyarrow, connectorx), on the same table in the same run. Each contender runs in its
own process (rows/s and peak RSS of that process).

Run: uv run python -m bench land [--size 1000000]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import emit, run_contender, timed

DATABASE = "lgsp_bench_land"
BACKENDS = ("sqlalchemy", "pyarrow", "connectorx")


def lgsp(dsn: str, home: str) -> None:
    os.environ["LGSP_HOME"] = home
    from catalog.spec import get_spec
    from lgsp import pipeline
    from lgsp.config import Settings

    spec = get_spec("land_parcels")
    params = {**spec.source.params, "dsn": dsn}
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"params": params})})
    settings = Settings.from_env()
    emit([timed("lgsp sql connector -> raw Parquet",
                lambda: pipeline.extract(spec, settings).row_count)])


def dlt_run(backend: str, dsn: str, out: str) -> None:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.sql_database import sql_table

    credentials = dsn if backend == "connectorx" else dsn.replace("postgresql://",
                                                                  "postgresql+psycopg://")
    pipeline = dlt.pipeline(pipeline_name=f"bench_{backend}", pipelines_dir=f"{out}/pipelines",
                            destination=dlt.destinations.filesystem(bucket_url=f"{out}/data"),
                            dataset_name="land")

    def extract() -> int:
        table = sql_table(credentials=credentials, table="parcels", backend=backend,
                          chunk_size=100_000)
        pipeline.extract(table, loader_file_format="parquet")
        return _extracted_rows(pipeline)

    def normalize_load() -> int:
        pipeline.normalize()
        pipeline.load().raise_on_failed_jobs()
        return int(pipeline.last_trace.last_normalize_info.row_counts.get("parcels", 0))

    emit([timed(f"dlt {backend}: extract", extract),
          timed(f"dlt {backend}: normalize + load Parquet", normalize_load)])


def _extracted_rows(pipeline: Any) -> int:
    info = pipeline.last_trace.last_extract_info
    counts = info.metrics if hasattr(info, "metrics") else {}
    for metrics in counts.values():
        for m in metrics:
            tables = m.get("table_metrics", {})
            if "parcels" in tables:
                return int(tables["parcels"].items_count)
    return 0


def run(size: int = 1_000_000, seed: int = 42) -> list[dict[str, Any]]:
    """Load `size` parcels into a fresh PostgreSQL database, run every contender."""
    from registries.land.database import LandDatabase

    db = LandDatabase(DATABASE, "postgresql")
    results: list[dict[str, Any]] = []
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    # Loaded in its own process: a child's peak RSS starts from its parent's at fork time.
    out = run_contender("bench.land_sql", ["load", str(size), str(seed)], env=env)
    results += [{"approach": "setup", **s} for s in out["stages"]]
    try:
        with tempfile.TemporaryDirectory(prefix="lgsp-bench-land-") as tmp:
            out = run_contender("bench.land_sql", ["lgsp", db.dsn, str(Path(tmp) / "home")], env=env)
            results += [{"approach": "lgsp", **s} for s in out["stages"]]
            for backend in BACKENDS:
                out = run_contender("bench.land_sql", ["dlt", backend, db.dsn, str(Path(tmp) / backend)],
                                    env=env)
                results += [{"approach": f"dlt ({backend})", **s} for s in out["stages"]]
    finally:
        db.drop()
    return results


def load(size: int, seed: int) -> None:
    from registries.land.database import LandDatabase
    from registries.land.generator import generate_land

    def go() -> int:
        db = LandDatabase(DATABASE, "postgresql")
        data = generate_land(size * 2, seed, synthetic=True)  # parcels = half the people
        db.load(data)  # COPY, then VACUUM (FREEZE, ANALYZE): no contender pays for hint bits
        return len(data.parcels)

    emit([timed("generate + load PostgreSQL (COPY, VACUUM)", go)])


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "lgsp":
        lgsp(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "dlt":
        dlt_run(sys.argv[2], sys.argv[3], sys.argv[4])
