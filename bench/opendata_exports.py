"""Open-data exports, each format three ways, each in a fresh process (time and peak RSS):

- lgsp: `opendata.formats` writers (CSV with formula-safe cells, CSV with BOM, Parquet,
  NDJSON, JSON array via DuckDB COPY; XLSX sheet rows rendered by DuckDB and zipped), from
  the export's Parquet file, as `opendata.exports` runs them;
- duckdb: DuckDB's own COPY of the same rows to the same format, no cell safety (the limit;
  DuckDB has no XLSX writer without its excel extension, which cannot be installed here);
- pandas: read the Parquet into a DataFrame and use its writer (what most would write;
  to_excel with openpyxl).

Sources: the curated tables of LGSP_HOME when they are there (`business_registry`, the
largest open dataset; `population`, the indicators' source, public and personal columns
alike since this measures writers, not what may leave), else a synthetic table shaped like
the business registry's open columns with --rows rows.

Run: uv run python -m bench exports [--size 1200000]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import emit, run_contender, timed

FORMATS = ["csv", "csv-bom", "parquet", "ndjson", "json", "xlsx"]


def _columns(source: str) -> list[tuple[str, str]]:
    import duckdb

    con = duckdb.connect()
    return [(r[0], str(r[1])) for r in
            con.execute(f"DESCRIBE SELECT * FROM read_parquet('{source}')").fetchall()]


def contender(approach: str, fmt: str, source: str, target: str) -> None:
    def run() -> int:
        import duckdb

        rows = int(duckdb.connect().execute(
            f"SELECT count(*) FROM read_parquet('{source}')").fetchone()[0])  # type: ignore[index]
        if approach == "lgsp":
            from opendata.formats import FORMATS as WRITERS
            from warehouse import duck

            with duck.connection() as con:
                con.execute("SET preserve_insertion_order = true")
                if fmt == "parquet":  # the export's own step: sorted by key, zstd
                    first = _columns(source)[0][0]
                    con.execute(f"COPY (SELECT * FROM read_parquet('{source}') ORDER BY "
                                f"\"{first}\") TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
                else:
                    WRITERS[fmt].write(con, Path(source), Path(target), _columns(source))
        elif approach == "duckdb":
            options = {"csv": "(FORMAT csv, HEADER true)", "csv-bom": "(FORMAT csv, HEADER true)",
                       "parquet": "(FORMAT parquet, COMPRESSION zstd)",
                       "ndjson": "(FORMAT json)", "json": "(FORMAT json, ARRAY true)"}[fmt]
            con = duckdb.connect()
            con.execute("SET threads = 2")
            con.execute(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{target}' {options}")
        else:
            import pandas as pd

            df = pd.read_parquet(source)
            if fmt == "csv":
                df.to_csv(target, index=False)
            elif fmt == "csv-bom":
                df.to_csv(target, index=False, encoding="utf-8-sig")
            elif fmt == "parquet":
                df.to_parquet(target, index=False, compression="zstd")
            elif fmt == "ndjson":
                df.to_json(target, orient="records", lines=True, force_ascii=False,
                           date_format="iso")
            elif fmt == "json":
                df.to_json(target, orient="records", force_ascii=False, date_format="iso")
            else:
                df.to_excel(target, index=False, engine="openpyxl")
        return rows

    stage = timed(f"{fmt}", run)
    emit([stage], approach=approach, format=fmt, bytes=os.path.getsize(target))


def _sources(settings: Any, rows: int, folder: Path) -> dict[str, str]:
    from warehouse.query import snapshot_files

    out = {}
    for dataset in ("business_registry", "population"):
        files = snapshot_files(settings, "curated", dataset)
        if files:
            import duckdb

            path = folder / f"{dataset}.parquet"
            duckdb.connect().execute(
                f"COPY (SELECT * EXCLUDE (_run_id, _ingested_at) FROM read_parquet("
                f"{[str(f) for f in files]})) TO '{path}' (FORMAT parquet)")
            out[dataset] = str(path)
    if not out:
        import duckdb

        path = folder / "synthetic_business.parquet"
        duckdb.connect().execute(f"""
            COPY (SELECT lpad(CAST(1000000000 + i AS VARCHAR), 10, '0') AS enterprise_code,
                    CASE WHEN i % 7 = 0 THEN 'chi nhánh' ELSE 'doanh nghiệp' END AS unit_type,
                    'Công ty TNHH Thương mại Dịch vụ Số ' || i AS name,
                    'TNHH một thành viên' AS legal_form, lpad(CAST(i % 8 AS VARCHAR), 2, '0') AS status_code,
                    'Số ' || (i % 400) || ', đường Nguyễn Trãi, Xã Châu Hưng A' AS address,
                    CAST(30000 + i % 300 AS VARCHAR) AS commune_code, '2025' AS commune_code_era,
                    CAST(4000 + i % 900 AS VARCHAR) AS sector_code,
                    DATE '2000-01-01' + CAST(i % 9000 AS INTEGER) AS registered_date,
                    TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND AS updated_at
                  FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)""")
        out[f"synthetic business registry ({rows:,} rows)"] = str(path)
    return out


def run(size: int) -> list[dict[str, Any]]:
    from lgsp.config import Settings

    settings = Settings.from_env()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as tmp:
        folder = Path(tmp)
        for name, source in _sources(settings, size, folder).items():
            for fmt in FORMATS:
                for approach in ("lgsp", "duckdb", "pandas"):
                    if approach == "duckdb" and fmt == "xlsx":
                        continue
                    target = folder / f"out-{approach}.{fmt.replace('-', '.')}"
                    res = run_contender("bench.opendata_exports",
                                        [approach, fmt, source, str(target)])
                    stage = res["stages"][0]
                    results.append({"source": name, "approach": approach, "format": fmt,
                                    "rows": stage["rows"], "seconds": stage["seconds"],
                                    "peak_mb": stage["peak_mb"], "bytes": res["bytes"]})
                    target.unlink(missing_ok=True)
    return results


if __name__ == "__main__":
    contender(*sys.argv[1:5])
