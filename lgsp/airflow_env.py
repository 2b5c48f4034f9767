"""Airflow's configuration for the embedded default: SQLite metadata under LGSP_HOME, the
project's dags/ folder, no examples, parallelism sized for a 2-core machine.

`airflow_environ()` is the whole configuration as environment variables; every way of
starting Airflow here (the CLI, tests, `dag.test()`) uses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lgsp.config import PROJECT_ROOT, Settings

DAGS_FOLDER = PROJECT_ROOT / "dags"


def airflow_environ(settings: Settings, api_port: int = 8080) -> dict[str, str]:
    home = settings.airflow_home
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The DAGs are generated from reviewed specs: they run once deployed (an operator
        # pauses one in the UI), and downstream DAGs get queued when their input Assets change.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "LGSP_HOME": str(settings.home),
        "LGSP_SPECS_DIR": str(settings.specs_dir),
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }


def migrate(settings: Settings) -> None:
    """Create or upgrade the metadata database (needed before dag.test())."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_environ(settings)}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def sync_dags(settings: Settings) -> None:
    """Parse the dags folder and write the DAGs (and their Asset schedules) to the metadata
    DB, as the DAG processor does: needed before asset events can queue consumer DAGs."""
    env = {**os.environ, **airflow_environ(settings)}
    subprocess.run([sys.executable, "-m", "airflow", "dags", "reserialize"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dag_test(settings: Settings, dag_id: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run one DAG once with dag.test() in a fresh process configured for the embedded default."""
    env = {**os.environ, **airflow_environ(settings)}
    return subprocess.run(
        [sys.executable, "-m", "lgsp.dag_test", dag_id], env=env, text=True,
        capture_output=True, timeout=timeout,
    )


def airflow_command(settings: Settings, args: list[str]) -> int:
    env = {**os.environ, **airflow_environ(settings)}
    return subprocess.call([sys.executable, "-m", "airflow", *args], env=env)


def marker(settings: Settings) -> Path:
    return settings.airflow_home / "airflow.db"
