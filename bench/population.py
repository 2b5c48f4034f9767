"""The population registry end to end at province scale (1.2 M people), three ways:

- lgsp: our pipeline, one process per stage (REST connector -> raw Parquet; gate = the
  quarantine split in DuckDB, then GX on DuckDB; publish to Iceberg; GX Data Docs of the
  run, rendered after the gate), and the same checks as the gate without GX (the split
  alone, direct DuckDB SQL: the gate's floor);
- naive: what most teams write first: requests into a list of dicts, a pandas DataFrame,
  Great Expectations' pandas engine with the spec's checks as built-in expectations (a few
  on columns derived with pandas), DataFrame.to_parquet;
- limit: DuckDB writing the same rows to Parquet (raw zone -> Parquet), the write floor.

Stage rows marked `detail` are parts of the stage above them (not added to totals): the
import of Great Expectations is a fixed cost per process, shown on its own line and counted
inside the gate (and the naive validation) all the same.

Run: uv run python -m bench population [--size 1200000]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
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
            gate: dict[str, Any] = {}

            def validate() -> int:
                gate["result"] = pipeline.validate(spec, run.path, settings)
                return int(gate["result"].raw_rows)

            total = timed("gate (quarantine split + GX on DuckDB)", validate)
            parts = gate["result"].seconds
            expectations = len({c.group for c in gate["result"].checks}) + 2  # + table-level
            stages = [total,
                      _detail("└ split: checks, curated + quarantine files", total, parts["split"]),
                      _detail("└ GX import (once per process, overlaps the split)", total,
                              parts["gx_import"]),
                      _detail(f"└ GX suite: {expectations} expectations", total, parts["gx"])]
        elif stage == "checks_sql":
            stages = [timed("same checks, direct DuckDB SQL",
                            lambda: pipeline.validate(spec, run.path, settings, use_gx=False).raw_rows)]
        elif stage == "docs":
            def docs() -> int:
                if not pipeline.data_docs(settings, [(spec.id, run.run_id)]):
                    raise RuntimeError("no GX result to render: did the gate stage run?")
                return run.row_count

            stages = [timed("Data Docs (GX report of the gate's result)", docs)]
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


def _detail(name: str, stage: Stage, seconds: float) -> Stage:
    """A part of `stage` (same rows and process peak), reported but not added to totals."""
    return Stage(name, stage.rows, seconds, stage.peak_mb, detail=True)


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

    gx_import: dict[str, float] = {}

    def validate() -> int:
        start = time.perf_counter()
        import great_expectations as gx
        import great_expectations.expectations as gxe

        gx_import["seconds"] = time.perf_counter() - start
        df = frame["df"]
        ctx = gx.get_context(mode="ephemeral")
        batch = (ctx.data_sources.add_pandas("p").add_dataframe_asset("people")
                 .add_batch_definition_whole_dataframe("all"))
        suite = ctx.suites.add(gx.ExpectationSuite(name="naive"))
        for expectation in naive_expectations(gxe, df):
            suite.add_expectation(expectation)
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch,
                                                                    suite=suite))
        result = vd.run(batch_parameters={"dataframe": df}, result_format="BASIC")
        failed = [r.expectation_config.type for r in result.results if r.exception_info
                  and r.exception_info.get("raised_exception")]
        if failed:
            raise RuntimeError(f"naive GX suite: expectations errored: {failed}")
        return len(df)

    def write() -> int:
        frame["df"].to_parquet(Path(home) / "naive.parquet")
        return len(frame["df"])

    stages: list[Stage] = [timed("extract (requests -> list of dicts)", fetch),
                           timed("DataFrame", to_frame)]
    stages.append(timed("validate (GX pandas engine, same checks)", validate))
    stages.append(_detail("└ GX import (once per process)", stages[-1], gx_import["seconds"]))
    stages.append(timed("DataFrame.to_parquet", write))
    emit(stages)


def naive_expectations(gxe: Any, df: Any) -> list[Any]:
    """The spec's checks (catalog/datasets/population.yaml) as GX pandas expectations, the
    way a team would write them: built-ins, with columns derived in pandas where a check
    spans columns (the personal ID's century/sex/year digits, the commune code of its era).
    Adds the derived columns to `df` (the cost is part of the validation)."""
    import datetime as dt

    import pandas as pd

    from expectations.reference import communes_table, personal_id_prefixes
    from expectations.rules import COMBINING_MARKS, SYLLABLE, VIETNAMESE_LETTERS

    def python_regex(re2: str) -> str:
        return re2.replace("\\x{0300}", "\\u0300").replace("\\x{036F}", "\\u036f")

    year = pd.to_numeric(df["date_of_birth"].str[:4], errors="coerce").astype("Int64")
    century_sex = (year // 100 - 19) * 2 + df["sex"].eq("Nữ").astype("Int64")
    df["_id_expected"] = (century_sex.astype("string")
                          + (year % 100).astype("string").str.zfill(2))
    df["_id_digits"] = df["personal_id"].str[3:6]
    df["_era_code"] = df["residence_code_era"] + ":" + df["residence_commune_code"]
    for col in ("date_of_birth", "date_of_death"):  # ranges are checked on dates, not text
        df[f"_{col}"] = pd.to_datetime(df[col], format="%Y-%m-%d", errors="coerce")
    communes = communes_table()
    era_codes = sorted({f"{e}:{c}" for e, c in zip(communes.column("ref_era").to_pylist(),
                                                    communes.column("ref_code").to_pylist(),
                                                    strict=True) if c})
    earliest, today = dt.datetime(1900, 1, 1), dt.datetime.combine(dt.date.today(), dt.time())
    letters = python_regex(f"[{VIETNAMESE_LETTERS}{COMBINING_MARKS}]+")
    syllable = python_regex(SYLLABLE)
    required = ("personal_id", "full_name", "sex", "date_of_birth", "residence_commune_code",
                "residence_code_era", "updated_at")
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectTableColumnsToMatchSet(column_set=list(required), exact_match=False),
        *[gxe.ExpectColumnValuesToNotBeNull(column=col) for col in required],
        gxe.ExpectColumnValuesToBeUnique(column="personal_id"),
        gxe.ExpectColumnValuesToMatchRegex(column="personal_id", regex=r"^[0-9]{12}$"),
        gxe.ExpectColumnValuesToMatchRegex(column="personal_id",
                                           regex=f"^({'|'.join(personal_id_prefixes())})"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="_id_digits", column_B="_id_expected",
                                            ignore_row_if="either_value_is_missing"),
        gxe.ExpectColumnValuesToBeInSet(column="sex", value_set=["Nam", "Nữ"]),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["Còn sống", "Đã mất"]),
        gxe.ExpectColumnValuesToMatchStrftimeFormat(column="date_of_birth",
                                                    strftime_format="%Y-%m-%d"),
        gxe.ExpectColumnValuesToBeBetween(column="_date_of_birth", min_value=earliest,
                                          max_value=today),
        gxe.ExpectColumnValuesToMatchStrftimeFormat(column="date_of_death",
                                                    strftime_format="%Y-%m-%d"),
        gxe.ExpectColumnValuesToBeBetween(column="_date_of_death", min_value=earliest,
                                          max_value=today),
        gxe.ExpectColumnValuesToBeInSet(column="residence_code_era", value_set=["2025", "2004"]),
        gxe.ExpectColumnValuesToBeInSet(column="_era_code", value_set=era_codes),
        gxe.ExpectColumnValuesToMatchRegex(column="full_name",
                                           regex=f"^\\s*{letters}( {letters})*\\s*$"),
        gxe.ExpectColumnValuesToMatchRegex(column="full_name",
                                           regex=f"(?i)^\\s*{syllable}( {syllable})*\\s*$"),
        gxe.ExpectColumnValuesToMatchRegex(
            column="updated_at",
            regex=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                  r"(Z|[+-][0-9]{2}:?[0-9]{2})?$"),
    ]


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
        # checks_sql before gate: both write the run's staging files, publish and docs read the gate's.
        for stage in ("extract", "checks_sql", "gate", "publish", "docs", "limit"):
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
