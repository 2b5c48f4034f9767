"""`lgsp run` exports each published open dataset after publishing (the post-publish step),
and the open indicators computed from it: the files and the catalogue's distributions are
there when the command returns."""

from __future__ import annotations

from lgsp.config import Settings
from opendata.exports import current_distributions
from tests.pipeline.test_cli_main_job import _lgsp


def test_lgsp_run_exports_open_datasets(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    result = _lgsp(["run", "business_registry", "--size", "20000"], home)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "open data: business_registry 6 files" in result.stdout
    assert "open data: enterprises_by_commune_status 6 files" in result.stdout
    monkeypatch.setenv("LGSP_HOME", str(home))
    settings = Settings.from_env()
    dists = current_distributions(settings, "business_registry")
    assert {d.format for d in dists} == {"csv", "csv-bom", "parquet", "ndjson", "json", "xlsx"}
    assert all((home / d.path).stat().st_size == d.byte_size for d in dists)
