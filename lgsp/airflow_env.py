"""Airflow's configuration for the embedded default: SQLite metadata under LGSP_HOME, one
generated DAG file per spec in <airflow home>/dags (lgsp.dag_files, kept in step by the
SpecDagBundle), no examples, parallelism sized for a 2-core machine.

`airflow_environ()` is the whole configuration as environment variables; every way of
starting Airflow here (the CLI, tests, `dag.test()`) uses it, through `environ()`, which
also writes the DAG files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lgsp.config import PROJECT_ROOT, Settings
from lgsp.dag_files import write_dag_files

DEFAULT_API_PORT = 8080
BUNDLE_REFRESH_SECONDS = 30
"""How often the DAG processor re-reads the specs folder for added or removed specs."""


def dags_folder(settings: Settings) -> Path:
    return settings.airflow_home / "dags"


def airflow_environ(settings: Settings, api_port: int = DEFAULT_API_PORT) -> dict[str, str]:
    home = settings.airflow_home
    bundle = [{"name": "dags-folder", "classpath": "lgsp.dag_bundle.SpecDagBundle",
               "kwargs": {"path": str(dags_folder(settings)), "specs_dir": str(settings.specs_dir),
                          "refresh_interval": BUNDLE_REFRESH_SECONDS}}]
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder(settings)),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundle),
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


def environ(settings: Settings, api_port: int = DEFAULT_API_PORT) -> dict[str, str]:
    """The process environment for an Airflow command: ours over the caller's, with the DAG
    files written for the current specs folder."""
    write_dag_files(settings.specs_dir, dags_folder(settings))
    return {**os.environ, **airflow_environ(settings, api_port)}


class AirflowHomeError(RuntimeError):
    """Airflow's metadata database cannot be opened where LGSP_HOME puts it."""


def check_database(settings: Settings) -> Path:
    """The SQLite metadata file, or an error naming it and why SQLite could not open it
    (SQLite's own "unable to open database file" names no file)."""
    db = settings.airflow_home / "airflow.db"
    try:
        settings.airflow_home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AirflowHomeError(f"cannot create Airflow's home {settings.airflow_home} for its "
                               f"metadata database {db}: {exc}") from None
    if db.exists() and not db.is_file():
        raise AirflowHomeError(f"Airflow's metadata database {db} is not a file")
    if not os.access(settings.airflow_home, os.W_OK | os.X_OK) or (
            db.exists() and not os.access(db, os.R_OK | os.W_OK)):
        raise AirflowHomeError(f"Airflow's metadata database {db} is not writable by this user "
                               "(set LGSP_HOME to a folder you can write)")
    return db


def migrate(settings: Settings) -> None:
    """Create or upgrade the metadata database (needed before dag.test())."""
    check_database(settings)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=environ(settings),
                   check=True, stdout=subprocess.DEVNULL)


def sync_dags(settings: Settings) -> None:
    """Parse the dags folder and write the DAGs (and their Asset schedules) to the metadata
    DB, as the DAG processor does: needed before asset events can queue consumer DAGs."""
    subprocess.run([sys.executable, "-m", "airflow", "dags", "reserialize"], env=environ(settings),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dag_test(settings: Settings, dag_id: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run one DAG once with dag.test() in a fresh process configured for the embedded default."""
    return subprocess.run(
        [sys.executable, "-m", "lgsp.dag_test", dag_id], env=environ(settings), text=True,
        capture_output=True, timeout=timeout,
    )


def airflow_command(settings: Settings, args: list[str], api_port: int = DEFAULT_API_PORT) -> int:
    return subprocess.call([sys.executable, "-m", "airflow", *args], env=environ(settings, api_port))


def marker(settings: Settings) -> Path:
    return settings.airflow_home / "airflow.db"
