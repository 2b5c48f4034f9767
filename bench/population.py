"""The population registry end to end at province scale (1.2 M people), three ways:

- lgsp: our pipeline, one process per stage (REST connector -> raw Parquet; gate = GX on
  DuckDB + quarantine split; publish to Iceberg), and the same checks as one direct DuckDB
  SQL pass (the gate's floor);
- naive: what most teams write first: requests into a list of dicts, a pandas DataFrame,
  Great Expectations' pandas engine with equivalent expectations, DataFrame.to_parquet;
- limit: DuckDB writing the same rows to Parquet (raw zone -> Parquet), the write floor.

Run: uv run python -m bench population [--size 1200000]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import Stage, emit, timed

PAGE_SIZE = 10_000


def _settings(home: str):  # type: ignore[no-untyped-def]
    os.environ["LGSP_HOME"] = home
    from lgsp.config import Settings

    return Settings.from_env()


def lgsp_stage(stage: str, home: str) -> None:
    """One stage of our pipeline in this process; state handed over through files."""
    from catalog.spec import get_spec
    from lgsp import pipeline
    from warehouse.raw_zone import committed_runs

    settings = _settings(home)
    spec = get_spec("population")
    if stage == "extract":
        stages = [timed("extract (REST -> raw Parquet)",
                        lambda: pipeline.extract(spec, settings).row_count)]
    else:
        run = list(committed_runs(settings.raw_dir, "population"))[-1]
        if stage == "gate":
            stages = [timed("gate (GX on DuckDB + quarantine split)",
                            lambda: pipeline.validate(spec, run.path, settings).raw_rows)]
        elif stage == "checks_sql":
            stages = [timed("same checks, direct DuckDB SQL",
                            lambda: pipeline.validate(spec, run.path, settings, use_gx=False).raw_rows)]
        elif stage == "publish":
            stages = [timed("publish (Iceberg snapshot)",
                            lambda: pipeline.publish_run(spec, run.path, settings).published_rows)]
        elif stage == "limit":
            from warehouse import duck

            def copy() -> int:
                out = Path(home) / "limit.parquet"
                with duck.connection() as con:
                    con.execute(f"COPY (SELECT * FROM {duck.parquet_source(run.files)}) "
                                f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
                return run.row_count

            stages = [timed("DuckDB: same rows -> Parquet", copy)]
        else:
            raise SystemExit(f"unknown stage {stage}")
    emit(stages)


def naive(url: str, token: str, home: str) -> None:
    """requests -> list of dicts -> pandas -> GX pandas engine -> to_parquet."""
    import pandas as pd
    import requests

    rows: list[dict[str, Any]] = []

    def fetch() -> int:
        params: dict[str, Any] = {"page_size": PAGE_SIZE}
        session = requests.Session()
        while True:
            body = session.get(f"{url}/api/v1/citizens", params=params,
                               headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
            rows.extend(body["data"])
            if not body.get("next_cursor"):
                return len(rows)
            params["cursor"] = body["next_cursor"]

    frame: dict[str, pd.DataFrame] = {}

    def to_frame() -> int:
        frame["df"] = pd.DataFrame(rows)
        rows.clear()
        return len(frame["df"])

    def validate() -> int:
        import great_expectations as gx
        import great_expectations.expectations as gxe

        from expectations.reference import communes_table, personal_id_prefixes

        df = frame["df"]
        ctx = gx.get_context(mode="ephemeral")
        batch = (ctx.data_sources.add_pandas("p").add_dataframe_asset("people")
                 .add_batch_definition_whole_dataframe("all"))
        suite = ctx.suites.add(gx.ExpectationSuite(name="naive"))
        for col in ("personal_id", "full_name", "sex", "date_of_birth",
                    "residence_commune_code", "residence_code_era", "updated_at"):
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=col))
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="personal_id"))
        suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column="personal_id",
                                                                 regex=r"^[0-9]{12}$"))
        prefixes = "|".join(personal_id_prefixes())
        suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column="personal_id",
                                                                 regex=f"^({prefixes})"))
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="sex", value_set=["Nam", "Nữ"]))
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="status",
                                                              value_set=["Còn sống", "Đã mất"]))
        suite.add_expectation(gxe.ExpectColumnValuesToMatchStrftimeFormat(
            column="date_of_birth", strftime_format="%Y-%m-%d"))
        codes = {c for c in communes_table().column("ref_code").to_pylist() if c}
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="residence_commune_code",
                                                              value_set=sorted(codes)))
        suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="residence_code_era",
                                                              value_set=["2025", "2004"]))
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch,
                                                                    suite=suite))
        vd.run(batch_parameters={"dataframe": df})
        return len(df)

    def write() -> int:
        frame["df"].to_parquet(Path(home) / "naive.parquet")
        return len(frame["df"])

    stages: list[Stage] = [timed("extract (requests -> list of dicts)", fetch),
                           timed("DataFrame", to_frame),
                           timed("validate (GX pandas engine)", validate),
                           timed("DataFrame.to_parquet", write)]
    emit(stages)


def main(size: int = 1_200_000, seed: int = 42) -> list[dict[str, Any]]:
    """Start the registry once, run every contender in its own process; return the rows."""
    from bench.measure import run_contender
    from registries.process import RegistryProcess

    token = "bench-token"
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lgsp-bench-") as tmp, RegistryProcess(
        "registries.population",
        ["--size", str(size), "--seed", str(seed), "--token", token],
        startup_timeout=600,
    ) as registry:
        env = {**os.environ, "LGSP_POPULATION_URL": registry.base_url,
               "LGSP_POPULATION_TOKEN": token, "GX_ANALYTICS_ENABLED": "False"}
        home = str(Path(tmp) / "home")
        for stage in ("extract", "gate", "checks_sql", "publish", "limit"):
            out = run_contender("bench.population", ["lgsp", stage, home], env=env)
            results += [{"approach": "lgsp" if stage != "limit" else "limit (DuckDB)", **s}
                        for s in out["stages"]]
        out = run_contender("bench.population", ["naive", registry.base_url, token, tmp], env=env)
        results += [{"approach": "naive (requests+pandas+GX pandas)", **s} for s in out["stages"]]
    return results


if __name__ == "__main__":
    if sys.argv[1] == "lgsp":
        lgsp_stage(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "naive":
        naive(sys.argv[2], sys.argv[3], sys.argv[4])
