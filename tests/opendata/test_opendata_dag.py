"""The open-data DAGs: one per open spec or indicator source, scheduled on that dataset's curated Asset, and a
real dag.test() run that exports a published snapshot into the catalogue."""

from __future__ import annotations

import shutil

import pytest

from catalog.spec import DATASETS_DIR, load_specs
from lgsp import airflow_env
from lgsp.config import Settings
from opendata.exports import current_distributions
from tests.dags.test_dag_integrity import _parse_dags
from tests.opendata.conftest import Published


def test_one_export_dag_per_open_spec_on_its_asset(tmp_path) -> None:  # type: ignore[no-untyped-def]
    parsed = _parse_dags(Settings(home=tmp_path / "home", specs_dir=DATASETS_DIR), DATASETS_DIR)
    assert parsed["errors"] == {}
    specs = load_specs()
    # the sources of opendata/indicator_specs/*.yaml
    sources = {"population", "business_registry", "gaps", "person_linked"}
    opened = {f"lgsp_opendata_{s.id}" for s in specs if s.open_data or s.id in sources}
    assert opened and opened == {d for d in parsed["dags"] if d.startswith("lgsp_opendata_")}
    for spec in specs:
        if not (spec.open_data or spec.id in sources):
            continue
        dag = parsed["dags"][f"lgsp_opendata_{spec.id}"]
        assert dag["tasks"] == ["export"]
        assert dag["asset_inputs"] == [f"lgsp://curated/{spec.id}"]
        assert "opendata" in dag["tags"] and dag["retries"] == [2]


@pytest.mark.slow
def test_dag_test_exports_the_published_snapshot(business_home: Published, tmp_path,  # type: ignore[no-untyped-def]
                                                 monkeypatch) -> None:
    # A copy of the published home without exports (the Iceberg catalog still points at the
    # original data files, which is all an export reads).
    home = tmp_path / "home"
    shutil.copytree(business_home.settings.home, home,
                    ignore=shutil.ignore_patterns("opendata", "airflow"))
    (home / "control.db").unlink(missing_ok=True)
    settings = Settings(home=home, specs_dir=DATASETS_DIR)
    monkeypatch.setenv("LGSP_HOME", str(home))
    airflow_env.migrate(settings)
    result = airflow_env.dag_test(settings, "lgsp_opendata_business_registry", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    dists = current_distributions(settings, "business_registry")
    assert {d.format for d in dists} == {"csv", "csv-bom", "parquet", "ndjson", "json", "xlsx"}
    assert all((home / d.path).exists() for d in dists)
