"""DAG integrity: the dags folder imports without errors, each spec gives one DAG with the
expected tasks, tags, retries and outlet Asset, and parsing does no database access.
A new spec dropped into the specs folder gives a working DAG without touching code; a
malformed spec is its own DAG file's import error, naming the spec, and the others load
(and stay active in Airflow's metadata)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from catalog.spec import DATASETS_DIR, load_specs
from lgsp.config import PROJECT_ROOT, Settings

PROBE = textwrap.dedent(
    """
    import json, os, sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id in bag.dag_ids:
        dag = bag.dags[dag_id]
        out["dags"][dag_id] = {
            "tasks": sorted(t.task_id for t in dag.tasks),
            "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
            "trigger_rules": {t.task_id: getattr(t.trigger_rule, "value", str(t.trigger_rule))
                              for t in dag.tasks},
            "tags": sorted(dag.tags),
            "retries": sorted({t.retries for t in dag.tasks}),
            "outlets": sorted(str(getattr(o, "uri", o)) for t in dag.tasks for o in t.outlets),
            "schedule": str(getattr(dag.timetable, "description", "")),
            "asset_inputs": sorted(a.uri for a in getattr(
                getattr(dag.timetable, "asset_condition", None), "objects", []) or []),
            "max_active_runs": dag.max_active_runs,
            "timeouts": {t.task_id: t.execution_timeout and t.execution_timeout.total_seconds()
                         for t in dag.tasks},
        }
    print(json.dumps(out))
    """
)


def _parse_dags(settings: Settings, specs_dir: Path) -> dict:
    import json

    from lgsp.airflow_env import environ

    env = environ(Settings(home=settings.home, specs_dir=specs_dir))  # writes the DAG files
    # An empty, never-migrated metadata DB: parsing must not need any table in it.
    settings.home.mkdir(parents=True, exist_ok=True)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{settings.home}/empty.db"
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=300, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, specs_dir=DATASETS_DIR)
    return _parse_dags(settings, DATASETS_DIR)


def test_no_import_errors_and_one_dag_per_spec(parsed):
    assert parsed["errors"] == {}
    expected = {f"lgsp_{s.id}" for s in load_specs()}
    assert expected <= set(parsed["dags"])


TASKS = ["data_docs", "extract", "publish", "release_lock", "validate"]


def test_each_spec_dag_has_extract_validate_publish(parsed):
    for spec in load_specs():
        dag = parsed["dags"][f"lgsp_{spec.id}"]
        assert dag["tasks"] == TASKS
        assert dag["upstream"] == {"extract": [], "validate": ["extract"],
                                   "publish": ["extract", "validate"],
                                   "data_docs": ["extract", "validate"],
                                   "release_lock": ["publish"]}
        # Data Docs also for a blocked run (validate failed), not when extract failed.
        assert dag["trigger_rules"]["data_docs"] == "all_done_min_one_success"
        assert dag["trigger_rules"]["publish"] == "all_success"
        # The run lock is freed however the DAG run ended (a teardown after publish).
        assert dag["trigger_rules"]["release_lock"] == "all_done_setup_success"
        assert f"dataset:{spec.id}" in dag["tags"] and "lgsp" in dag["tags"]
        assert dag["retries"] == [2]
        assert dag["outlets"] == [f"lgsp://curated/{spec.id}"]
        assert dag["max_active_runs"] == 1


def test_every_task_times_out_after_the_specs_run_deadline(parsed):
    """A hung source never hangs the DAG: each task's execution_timeout comes from the
    spec's source.limits.run_seconds (the extract gets 5 minutes more, so the connector's
    own, clearer deadline fires first)."""
    for spec in load_specs():
        run = spec.source.limits.run_seconds
        timeouts = parsed["dags"][f"lgsp_{spec.id}"]["timeouts"]
        assert timeouts == {"extract": run + 300, "validate": run, "publish": run,
                            "data_docs": run, "release_lock": 300}


def test_derived_datasets_run_when_any_input_publishes(parsed):
    derived = [s for s in load_specs() if s.source.inputs]
    assert {s.id for s in derived} >= {"person_linked", "gaps"}
    for spec in derived:
        dag = parsed["dags"][f"lgsp_{spec.id}"]
        assert dag["asset_inputs"] == sorted(f"lgsp://curated/{i}" for i in spec.source.inputs)


def test_a_new_spec_file_gives_a_new_dag_without_code_changes(tmp_path):
    specs_dir = tmp_path / "specs"
    shutil.copytree(DATASETS_DIR, specs_dir)
    text = (specs_dir / "population.yaml").read_text("utf-8")
    (specs_dir / "civil_status.yaml").write_text(
        text.replace("id: population", "id: civil_status").replace('"@daily"', '"@hourly"'),
        encoding="utf-8",
    )
    parsed = _parse_dags(Settings(home=tmp_path / "home", specs_dir=specs_dir), specs_dir)
    assert parsed["errors"] == {}
    assert parsed["dags"]["lgsp_civil_status"]["tasks"] == TASKS
    assert parsed["dags"]["lgsp_civil_status"]["outlets"] == ["lgsp://curated/civil_status"]


def test_dag_files_are_thin_one_per_spec(tmp_path):
    from lgsp.airflow_env import dags_folder, environ

    settings = Settings(home=tmp_path / "home", specs_dir=DATASETS_DIR)
    environ(settings)
    files = sorted(p.name for p in dags_folder(settings).glob("*.py"))
    assert files == sorted(f"lgsp_{p.stem}.py" for p in DATASETS_DIR.glob("*.yaml"))
    for path in dags_folder(settings).glob("*.py"):
        text = path.read_text("utf-8")
        for heavy in ("duckdb", "pyarrow", "great_expectations", "pyiceberg", "requests"):
            assert heavy not in text


def _break_land_parcels(specs_dir: Path) -> Path:
    bad = specs_dir / "land_parcels.yaml"
    text = bad.read_text("utf-8").replace("connector: sql", "connector: carrier_pigeon")
    bad.write_text(text, encoding="utf-8")
    return bad


def test_a_malformed_spec_is_its_own_dags_import_error_and_the_others_load(tmp_path):
    specs_dir = tmp_path / "specs"
    shutil.copytree(DATASETS_DIR, specs_dir)
    bad = _break_land_parcels(specs_dir)
    parsed = _parse_dags(Settings(home=tmp_path / "home", specs_dir=specs_dir), specs_dir)
    assert list(parsed["errors"]) == [str(tmp_path / "home" / "airflow" / "dags" / "lgsp_land_parcels.py")]
    error = next(iter(parsed["errors"].values()))
    assert f"{bad}: invalid dataset spec" in error
    assert "source.connector: unknown transport 'carrier_pigeon'" in error
    dataset_dags = {d for d in parsed["dags"]
                    if not d.startswith("lgsp_opendata_") and not d.endswith("_reconcile")}
    assert dataset_dags == {f"lgsp_{p.stem}" for p in specs_dir.glob("*.yaml")} - {
        "lgsp_land_parcels"}


def test_airflow_records_the_import_error_and_keeps_the_other_dags_active(tmp_path):
    """What the DAG processor writes: `airflow dags reserialize` parses the bundle and syncs
    DAGs and import errors to the metadata DB, as the processor does."""
    import sqlite3

    from lgsp import airflow_env

    specs_dir = tmp_path / "specs"
    shutil.copytree(DATASETS_DIR, specs_dir)
    bad = _break_land_parcels(specs_dir)
    settings = Settings(home=tmp_path / "home", specs_dir=specs_dir)
    airflow_env.migrate(settings)
    airflow_env.sync_dags(settings)
    with sqlite3.connect(settings.airflow_home / "airflow.db") as con:
        errors = con.execute("SELECT filename, stacktrace FROM import_error").fetchall()
        dags = dict(con.execute("SELECT dag_id, is_stale OR has_import_errors FROM dag").fetchall())
    assert [e[0] for e in errors] == ["lgsp_land_parcels.py"]
    assert f"{bad}: invalid dataset spec" in errors[0][1]
    dataset_dags = {d: bad for d, bad in dags.items()
                    if not d.startswith("lgsp_opendata_") and not d.endswith("_reconcile")}
    assert dataset_dags == {f"lgsp_{p.stem}": 0 for p in specs_dir.glob("*.yaml")
                            if p.stem != "land_parcels"}
    assert not any(bad for d, bad in dags.items() if d not in dataset_dags and
                   not d.startswith("lgsp_land_parcels"))


def test_the_bundle_refresh_follows_specs_added_and_removed(tmp_path):
    """The DAG processor refreshes its bundle every refresh_interval: a spec dropped into the
    folder gets its DAG file, a removed spec loses it, other files are left alone."""
    from lgsp.dag_bundle import SpecDagBundle

    specs_dir = tmp_path / "specs"
    specs_dir.mkdir()
    shutil.copy(DATASETS_DIR / "population.yaml", specs_dir)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "lgsp_handwritten.py").write_text("# someone's own DAG file\n", "utf-8")
    bundle = SpecDagBundle(name="dags-folder", path=str(dags), specs_dir=str(specs_dir),
                           refresh_interval=30)
    bundle.initialize()
    assert sorted(p.name for p in dags.glob("*.py")) == ["lgsp_handwritten.py", "lgsp_population.py"]
    shutil.copy(DATASETS_DIR / "gaps.yaml", specs_dir)
    (specs_dir / "population.yaml").unlink()
    bundle.refresh()
    assert sorted(p.name for p in dags.glob("*.py")) == ["lgsp_gaps.py", "lgsp_handwritten.py"]
    assert str(specs_dir / "gaps.yaml") in (dags / "lgsp_gaps.py").read_text("utf-8")
