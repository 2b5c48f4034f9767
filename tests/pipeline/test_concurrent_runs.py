"""Two runs of the population dataset (REST) at once, on one home, against the real
simulated registry: the second is refused naming the dataset and the run holding it (it
neither ingests nor removes the first one's unfinished raw folder), and the curated and
quarantine tables equal those of a single run. On the SQLite catalog and on PostgreSQL.
Real `lgsp run` processes stop naming the holder, or wait for it with --wait."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from catalog.spec import get_spec
from lgsp import pipeline
from lgsp.config import PROJECT_ROOT
from tests.concurrency import other_home, pg_catalog, run_twice_at_once, tables
from tests.pipeline.conftest import TOKEN
from warehouse import run_lock
from warehouse.raw_zone import committed_runs
from warehouse.run_lock import DatasetLocked, RunLocks


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_two_population_runs_at_once_give_the_tables_of_one(env, tmp_path, catalog):
    spec = get_spec("population")
    with pg_catalog() as uri:
        settings = dataclasses.replace(env, catalog_uri=uri if catalog == "postgresql" else None)
        first, second = run_twice_at_once(spec, settings)
        assert isinstance(second, DatasetLocked), second
        assert "population" in str(second) and f"lgsp run {first.run_id}" in str(second)
        assert not first.blocked and first.extracted > 0
        assert [r.run_id for r in committed_runs(settings.raw_dir, "population")] == [first.run_id]

        single = other_home(settings, tmp_path)  # its own home and SQLite catalog
        pipeline.run_dataset(spec, single, use_gx=False)
        assert tables(settings, "population") == tables(single, "population")


def _lgsp_run(settings, registry, *args: str) -> subprocess.Popen:
    env = {**os.environ, "LGSP_HOME": str(settings.home), "COLUMNS": "200",
           "LGSP_POPULATION_URL": registry.base_url, "LGSP_POPULATION_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, "-m", "lgsp", "run", "population", "--no-simulate",
                             *args], env=env, cwd=PROJECT_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_lgsp_run_stops_naming_the_holder_or_waits_for_it(env, registry):
    """Real `lgsp run` processes while another run (here: the test) holds the lock."""
    settings = env
    locks = RunLocks.for_settings(settings)
    held = locks.acquire("population", "lgsp run 20261130T000000Z-first")
    refused = _lgsp_run(settings, registry)
    out, err = refused.communicate(timeout=600)
    assert refused.returncode == 1, out + err
    said = " ".join(out.split())
    assert ("population failed: dataset population is already being run by lgsp run "
            f"20261130T000000Z-first on host {run_lock.HOST} (pid {os.getpid()})") in said
    assert not list(committed_runs(settings.raw_dir, "population"))

    waiting = _lgsp_run(settings, registry, "--wait", "900")
    try:
        assert waiting.stderr is not None
        for line in waiting.stderr:
            if "waiting for the run lock of population" in line:
                break
        else:
            pytest.fail("the second run never said it was waiting")
        assert not list(committed_runs(settings.raw_dir, "population"))
        held.release()
        out, err = waiting.communicate(timeout=900)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 0, out + err
    assert len(list(committed_runs(settings.raw_dir, "population"))) == 1
    assert locks.holder("population").owner is None
    locks.close()
