"""The Airflow DAG run holds the dataset's run lock: a real dag.test() of the population DAG
started while `lgsp run` (here: the test) holds the lock waits in its extract without
reading the registry, goes on when the lock is released, and its teardown frees the lock."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from lgsp import airflow_env
from lgsp.config import PROJECT_ROOT
from tests.pipeline.conftest import TOKEN
from warehouse.raw_zone import committed_runs
from warehouse.run_lock import RunLocks


def _read_until(proc: subprocess.Popen, needle: str, seen: list[str]) -> bool:
    """Read the process's output line by line until `needle` shows (True) or it exits."""
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if needle in line:
            return True
    return False


def test_a_dag_run_waits_for_the_lock_and_its_teardown_frees_it(env, registry, monkeypatch):
    settings = env
    airflow_env.migrate(settings)
    locks = RunLocks.for_settings(settings)
    held = locks.acquire("population", "lgsp run elsewhere")
    environ = {**os.environ, **airflow_env.airflow_environ(settings),
               "LGSP_POPULATION_URL": registry.base_url, "LGSP_POPULATION_TOKEN": TOKEN,
               "LGSP_RUN_LOCK_WAIT": "900"}
    proc = subprocess.Popen([sys.executable, "-m", "lgsp.dag_test", "lgsp_population"],
                            env=environ, cwd=PROJECT_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen: list[str] = []
    try:
        waiting = _read_until(proc, "waiting for the run lock of population", seen)
        assert waiting, "".join(seen)[-3000:]
        assert "lgsp run elsewhere" in seen[-1]
        assert not list(committed_runs(settings.raw_dir, "population"))  # nothing extracted
        held.release()
        rest, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(seen) + rest
    assert proc.returncode == 0, output[-3000:]
    with sqlite3.connect(settings.airflow_home / "airflow.db") as con:
        states = dict(con.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'lgsp_population'"
        ).fetchall())
    assert states == {"extract": "success", "validate": "success", "publish": "success",
                      "data_docs": "success", "release_lock": "success"}
    assert len(list(committed_runs(settings.raw_dir, "population"))) == 1
    holder = locks.holder("population")
    assert holder.owner is None  # the teardown freed it
    locks.close()
