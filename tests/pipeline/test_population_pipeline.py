"""The population registry end to end over real HTTP: extract -> GX gate -> Iceberg.

Happy path with defects in quarantine, re-runs without duplicates, incremental pulls after
births/deaths/moves, a run killed mid-extract, and the retry budget (500s, 429s, timeouts).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

from catalog.spec import get_spec
from connectors.base import RetryBudgetExhausted
from connectors.state import StateStore
from lgsp import pipeline
from registries.population.generator import generate_population
from tests.pipeline.conftest import SEED, SIZE
from warehouse import iceberg
from warehouse.query import curated_connection

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def _spec_with(**retry: float):
    spec = get_spec("population")
    params = {**spec.source.params, "page_size": 500,
              "retry": {"max_attempts": 4, "budget_seconds": 20, "backoff_initial": 0.05,
                        "backoff_max": 0.2, **retry}}
    return spec.model_copy(update={"source": spec.source.model_copy(update={"params": params})})


def _scalar(settings, sql):
    return curated_connection(settings).execute(sql).fetchone()[0]


def test_happy_path_defects_quarantined_and_rerun_without_duplicates(env, admin):
    settings = env
    spec = _spec_with()
    truth = generate_population(SIZE, SEED, as_of="2026-11-01")
    served = truth.num_rows
    summary = pipeline.run_dataset(spec, settings, until=AS_OF)
    assert summary.extracted == served
    assert not summary.blocked
    assert summary.published + summary.quarantined == summary.extracted
    # Every injected defect that must be rejected is in quarantine, with a reason.
    con = curated_connection(settings)
    reasons = dict(con.execute(
        "SELECT _rules, _reasons FROM population_quarantine LIMIT 1").fetchall())
    assert reasons, "quarantine is empty"
    defects = truth.column("_defect").to_pylist()
    must_reject = {"name_tcvn3", "name_vni", "id_bad_format", "id_bad_province",
                   "id_inconsistent", "duplicate", "dob_impossible", "missing_field",
                   "wrong_era", "sex_invalid"}
    expected_min = sum(1 for d in defects if d in must_reject)
    assert summary.quarantined >= expected_min * 0.9
    nfd = sum(1 for d in defects if d == "name_nfd")
    assert nfd == 0 or _scalar(settings, "SELECT count(*) FROM population "
                                         "WHERE full_name <> full_name_raw") >= nfd * 0.9
    assert _scalar(settings, "SELECT count(*) FROM population") == summary.total_rows
    assert _scalar(settings, "SELECT count(*) - count(DISTINCT personal_id) FROM population") == 0
    sample = con.execute("SELECT _reasons FROM population_quarantine "
                         "WHERE _rules LIKE '%personal_id%' LIMIT 1").fetchone()[0]
    assert "personal_id: '" in sample

    # Same window again (watermark reset): nothing new, no duplicates, in quarantine either
    # (each rejected record's row now names the latest run).
    rejected_rows = _scalar(settings, "SELECT count(*) FROM population_quarantine")
    StateStore(settings.state_dir).reset("population")
    again = pipeline.run_dataset(spec, settings, until=AS_OF)
    assert again.total_rows == summary.total_rows
    assert _scalar(settings, "SELECT count(*) - count(DISTINCT personal_id) FROM population") == 0
    assert _scalar(settings, "SELECT count(*) FROM population_quarantine") == rejected_rows
    assert _scalar(settings, "SELECT list(DISTINCT _run_id) FROM population_quarantine") == [
        again.run_id]

    # Time passes at the registry: the incremental pull gets exactly the changes.
    changed = admin.advance(days=30, births=40, deaths=15, moves=25)
    inc = pipeline.run_dataset(spec, settings, until=AS_OF + timedelta(days=30))
    assert inc.extracted == changed["changed"]
    assert inc.total_rows == summary.total_rows + 40
    assert _scalar(settings, "SELECT count(*) FROM population WHERE status = 'Đã mất' "
                             "AND date_of_death IS NOT NULL") >= 15
    table = iceberg.load_catalog(settings).load_table(("curated", "population"))
    assert len(table.snapshots()) == 3


def test_500s_and_429_are_survived_within_the_budget(env, admin):
    admin.faults({"kind": "status", "status": 500, "count": 2},
                 {"kind": "retry_after", "status": 429, "retry_after": 1, "count": 1})
    run = pipeline.extract(_spec_with(), env)
    assert run.row_count > 0
    retries = run.manifest["requests"]["retries"]
    assert len(retries) == 3
    assert any("HTTP 500" in r for r in retries) and any("HTTP 429" in r for r in retries)


def test_timeouts_are_retried(env, admin):
    spec = _spec_with()
    params = {**spec.source.params, "read_timeout": 0.5}
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"params": params})})
    admin.faults({"kind": "delay", "seconds": 2, "count": 1})
    run = pipeline.extract(spec, env)
    assert any("timed out" in r for r in run.manifest["requests"]["retries"])


def test_exhausted_budget_is_reported_and_nothing_published(env, admin):
    admin.faults({"kind": "fail_after_pages", "pages": 2, "status": 503, "count": 1000})
    with pytest.raises(RetryBudgetExhausted) as err:
        pipeline.run_dataset(_spec_with(max_attempts=3), env)
    message = str(err.value)
    assert "population: gave up after 3 attempts" in message
    assert "HTTP 503" in message
    assert not iceberg.load_catalog(env).table_exists(("curated", "population"))
    assert not list((env.raw_dir / "population").glob("2*")), "no committed raw run"
    assert not list((env.raw_dir / "population").glob(".tmp-*")), "aborted run cleaned up"


def test_wrong_token_fails_at_once_naming_the_status(env, admin, monkeypatch):
    monkeypatch.setenv("LGSP_POPULATION_TOKEN", "wrong")
    with pytest.raises(Exception, match="HTTP 401"):
        pipeline.extract(_spec_with(), env)


KILLABLE = textwrap.dedent(
    """
    import sys
    from catalog.spec import get_spec
    from lgsp import pipeline
    from lgsp.config import Settings
    spec = get_spec("population")
    params = {**spec.source.params, "page_size": 200}
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"params": params})})
    pipeline.run_dataset(spec, Settings.from_env())
    """
)


def test_run_killed_mid_extract_publishes_nothing_and_next_run_completes(env, admin):
    settings = env
    admin.faults({"kind": "delay", "seconds": 0.3, "count": 1000})
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE], env={**os.environ},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tmp_glob = lambda: list((settings.raw_dir / "population").glob(".tmp-*/part-*.parquet"))  # noqa: E731
    deadline = time.monotonic() + 60
    while not tmp_glob() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tmp_glob(), "the extract never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    admin.clear()
    assert not iceberg.load_catalog(settings).table_exists(("curated", "population"))
    assert StateStore(settings.state_dir).get("population").watermark is None
    summary = pipeline.run_dataset(_spec_with(), settings)
    assert not summary.blocked and summary.total_rows > 0
    assert not list((settings.raw_dir / "population").glob(".tmp-*"))
    assert len(list((settings.raw_dir / "population").glob("2*"))) == 1
