"""The README's order works: the simulated registries a command needs start with it, found by
the specs that read them (a second spec over the population source starts the population
simulation alone); `lgsp registries` prints shell `export` lines and, stopped with SIGTERM,
leaves no database behind (nor do dead runs, next time); `lgsp airflow test` starts what
its DAG reads and prints the failing task's error, not a traceback; `lgsp airflow
standalone --port` serves on that port."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from catalog.spec import DATASETS_DIR
from lgsp.config import PROJECT_ROOT
from registries.process import free_port

LGSP = [sys.executable, "-m", "lgsp"]


def _population_basic(specs: Path) -> None:
    """A second spec over the population source (fewer columns, its own table)."""
    text = (DATASETS_DIR / "population.yaml").read_text("utf-8")
    text = text.replace("id: population\n", "id: population_basic\n", 1)
    (specs / "population_basic.yaml").write_text(text, "utf-8")


def _env(tmp_path: Path, specs: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LGSP_", "AIRFLOW"))}
    env.update(LGSP_HOME=str(tmp_path / "home"), LGSP_SPECS_DIR=str(specs or DATASETS_DIR))
    return env


def _land_databases() -> set[str]:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as con:
        return {r[0] for r in con.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'lgsp\\_land\\_%'")}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_a_second_spec_over_the_population_source_runs_alone(tmp_path):
    from lgsp.cli import app

    specs = tmp_path / "specs"
    shutil.copytree(DATASETS_DIR, specs)
    _population_basic(specs)
    result = CliRunner().invoke(app, ["run", "population_basic", "--size", "300", "--seed", "5"],
                                env=_env(tmp_path, specs))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "simulated registry: LGSP_POPULATION_URL=http://127.0.0.1:" in result.stdout
    assert "population_basic" in result.stdout and "published" in result.stdout


def test_registries_prints_export_lines_and_sigterm_drops_the_land_database(tmp_path):
    before = _land_databases()
    proc = subprocess.Popen([*LGSP, "registries", "population", "land_parcels", "--size", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(tmp_path), cwd=PROJECT_ROOT)
    try:
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(3)]
        exported = {}
        for line in lines:
            words = shlex.split(line)
            assert words[0] == "export" and len(words) == 2, line
            name, value = words[1].split("=", 1)
            exported[name] = value
        assert set(exported) == {"LGSP_POPULATION_URL", "LGSP_POPULATION_TOKEN", "LGSP_LAND_DSN"}
        # The lines are shell: bash evaluates them to the same values.
        shell = subprocess.run(["bash", "-c", "\n".join(lines) + '\nprintf %s "$LGSP_LAND_DSN"'],
                               capture_output=True, text=True, check=True)
        assert shell.stdout == exported["LGSP_LAND_DSN"]
        assert _healthy(exported["LGSP_POPULATION_URL"])
        database = exported["LGSP_LAND_DSN"].rsplit("/", 1)[1]
        assert database in _land_databases() - before
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert database not in _land_databases()
    assert not _healthy(exported["LGSP_POPULATION_URL"])


def test_databases_of_dead_simulations_are_dropped_next_time():
    from registries.land.database import LandDatabase
    from registries.land.simulation import database_name, drop_leftovers

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = LandDatabase(database_name(dead.pid))
    alive = LandDatabase(database_name(os.getpid()))
    leftover.create()
    alive.create()
    try:
        dropped = drop_leftovers()
        names = _land_databases()
        assert leftover.name in dropped and leftover.name not in names
        assert alive.name in names  # a running simulation's database is left alone
    finally:
        leftover.drop()
        alive.drop()


@pytest.mark.slow
def test_airflow_test_starts_the_registry_its_dag_reads_and_reports_a_failure_in_one_line(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(DATASETS_DIR, specs)
    ok = subprocess.run([*LGSP, "airflow", "test", "lgsp_population", "--size", "300"],
                        capture_output=True, text=True, env=_env(tmp_path, specs), timeout=900,
                        cwd=PROJECT_ROOT)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "simulated registry: LGSP_POPULATION_URL=http://127.0.0.1:" in ok.stdout
    assert "dag_run lgsp_population state=success" in ok.stdout

    # A gate that blocks: the failing task's exception on one line, no traceback.
    text = (specs / "population.yaml").read_text("utf-8").replace("min_rows: 1", "min_rows: 999999")
    (specs / "population.yaml").write_text(text, "utf-8")
    failed = subprocess.run([*LGSP, "airflow", "test", "lgsp_population", "--size", "300"],
                            capture_output=True, text=True, env=_env(tmp_path, specs), timeout=900,
                            cwd=PROJECT_ROOT)
    assert failed.returncode == 1
    assert "task validate failed: AirflowFailException: quality gate blocked population: " in failed.stdout
    assert "999,999" in failed.stdout or "999999" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
    log = tmp_path / "home" / "airflow" / "logs" / "dag-test-lgsp_population.log"
    assert f"Airflow's output: {log}" in failed.stdout.replace("\n", "")
    assert "Traceback" in log.read_text("utf-8")  # the details are kept, apart


@pytest.mark.slow
def test_airflow_standalone_serves_on_the_port_asked_for(tmp_path):
    port = free_port()
    proc = subprocess.Popen([*LGSP, "airflow", "standalone", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env(tmp_path), cwd=PROJECT_ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        answered = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/version",
                                            timeout=5) as resp:
                    answered = resp.status
                    break
            except OSError:
                time.sleep(2)
        assert answered == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: standalone stops its components
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_airflow_test_of_a_malformed_spec_prints_the_spec_error(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(DATASETS_DIR, specs)
    bad = specs / "land_parcels.yaml"
    bad.write_text(bad.read_text("utf-8").replace('schedule: "@daily"', 'schedule: "daily"'), "utf-8")
    result = subprocess.run([*LGSP, "airflow", "test", "lgsp_land_parcels", "--no-simulate"],
                            capture_output=True, text=True, env=_env(tmp_path, specs), timeout=600,
                            cwd=PROJECT_ROOT)
    assert result.returncode == 2
    out = result.stdout.replace("\n", " ")
    assert f"import error: {bad}: invalid dataset spec" in out
    assert "- schedule: 'daily' is not a valid cron expression" in out
    assert "Traceback" not in result.stdout + result.stderr
