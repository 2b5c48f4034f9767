"""The README's main job, as a new user runs it: `lgsp run` starts the simulated
registries, runs every pipeline once and prints the summary; `lgsp status`, `lgsp quality`
and `lgsp query` then read what it published."""

from __future__ import annotations

import os
import subprocess
import sys

from catalog.spec import load_specs
from tests.data_docs import validation_pages


def _lgsp(args: list[str], home, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LGSP_HOME": str(home), "COLUMNS": "200"}
    for key in list(env):
        if key.startswith("LGSP_") and key.endswith(("_URL", "_DSN", "_DIR", "_TOKEN")):
            env.pop(key)
    return subprocess.run([sys.executable, "-m", "lgsp", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_lgsp_run_publishes_every_dataset_and_reports(tmp_path):
    home = tmp_path / "home"
    result = _lgsp(["run", "--size", "2000"], home)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Pipeline summary" in result.stdout
    for spec in load_specs():
        assert spec.id in result.stdout
    assert "blocked" not in result.stdout
    # One Data Docs build after the runs: a validation page per dataset, one index.
    assert "quality reports (GX Data Docs): file://" in result.stdout
    index, pages = validation_pages(home)
    suites = {p.relative_to(index.parent / "validations").parts[0] for p in pages}
    assert suites == {f"{spec.id}_suite" for spec in load_specs()}
    status = _lgsp(["status"], home)
    assert status.returncode == 0 and "never" not in status.stdout
    quality = _lgsp(["quality", "--lang", "en"], home)
    assert quality.returncode == 0 and "Provincial Police" in quality.stdout
    query = _lgsp(["query", "SELECT count(*) AS n FROM population"], home)
    assert query.returncode == 0
    n = int(query.stdout.split("│")[-2].strip().replace(",", "")) if "│" in query.stdout else None
    assert n and n > 1500
