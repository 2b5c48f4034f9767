"""The README's main job, as a new user runs it: `lgsp run` starts the simulated
registries, runs every pipeline once and prints the summary; `lgsp status`, `lgsp quality`
and `lgsp query` then read what it published."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from catalog.spec import load_specs
from tests.data_docs import validation_pages


def _lgsp(args: list[str], home, timeout: float = 900,
          extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LGSP_HOME": str(home), "COLUMNS": "200"}
    for key in list(env):
        if key.startswith("LGSP_") and key.endswith(("_URL", "_DSN", "_DIR", "_TOKEN")):
            env.pop(key)
    env.update(extra_env or {})
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

    # The second run on the same home (the registries start again from the same seed):
    # nothing new anywhere, every run a success, the tables keep their rows.
    first = summary_rows(result.stdout)
    second = _lgsp(["run", "--size", "2000"], home)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    rows = summary_rows(second.stdout)
    assert set(rows) == {spec.id for spec in load_specs()}
    for spec in load_specs():
        row = rows[spec.id]
        if spec.source.incremental:
            assert (row["status"], row["extracted"], row["quality score"]) == \
                ("no changes", "0", "no rows"), row
            assert row["rows in table"] == first[spec.id]["rows in table"] != "0"
        else:  # derived: recomputed from unchanged inputs
            assert row["status"] == "published", row
            assert row["rows in table"] == first[spec.id]["rows in table"]
    quality = _lgsp(["quality", "--lang", "en"], home)
    assert quality.returncode == 0 and "Provincial Police" in quality.stdout
    query = _lgsp(["query", "SELECT count(*) AS n FROM population"], home)
    assert query.returncode == 0
    n = int(query.stdout.split("│")[-2].strip().replace(",", "")) if "│" in query.stdout else None
    assert n and n > 1500


SUMMARY = ["dataset", "extracted", "quarantined", "published", "rows in table",
           "quality score", "status", "seconds"]


def summary_rows(stdout: str) -> dict[str, dict[str, str]]:
    """The Pipeline summary table of `lgsp run`, per dataset (cells as printed)."""
    table = stdout[stdout.index("Pipeline summary"):]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == len(SUMMARY) and cells[0] and cells[0] != "dataset":
            rows[cells[0]] = dict(zip(SUMMARY, cells, strict=True))
    return rows


def _count(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_lgsp_run_again_says_no_changes_then_counts_the_changes_and_a_failed_report_stands(
        tmp_path):
    """`lgsp run` three times on one home against one running insurance service (whose
    changes are stamped with the wall clock): the first publishes, the second finds
    nothing new, the third exactly the changes made at the agency in between, although
    its Data Docs cannot be written (the report fails apart; the command succeeds)."""
    from tests.insurance.conftest import PASSWORD, USER, Admin, start_registry

    home = tmp_path / "home"
    with start_registry() as registry:
        env = {"LGSP_INSURANCE_URL": registry.base_url, "LGSP_INSURANCE_USER": USER,
               "LGSP_INSURANCE_PASSWORD": PASSWORD}

        def run() -> dict[str, str]:
            result = _lgsp(["run", "insurance_members", "--no-simulate"], home, extra_env=env)
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
            run.stdout = result.stdout  # type: ignore[attr-defined]
            return summary_rows(result.stdout)["insurance_members"]

        first = run()
        assert first["status"] == "published" and _count(first["rows in table"]) > 2000
        second = run()
        assert second["status"] == "no changes"
        assert (second["extracted"], second["published"], second["quality score"]) == \
            ("0", "0", "no rows")
        assert second["rows in table"] == first["rows in table"]

        change = Admin(registry.base_url).advance(renewals=20, enrolments=7)
        assert change["changed"] == 27
        site = home / "quality" / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"
        shutil.rmtree(site)
        site.write_text("a file where GX writes its site: the report cannot be built")
        third = run()
        assert third["status"] == "published"
        assert _count(third["extracted"]) == 27
        assert _count(third["published"]) + _count(third["quarantined"]) == 27
        assert _count(third["rows in table"]) == _count(first["rows in table"]) + 7
        assert "quality report failed (the runs above stand)" in run.stdout  # type: ignore[attr-defined]
        assert "GX Data Docs not rendered" in run.stdout  # type: ignore[attr-defined]
    status = _lgsp(["status"], home)
    assert status.returncode == 0
    cells = " ".join(status.stdout.replace("│", " ").split())  # wrapped cells joined
    assert re.search(r"published \d{4}-\d\d-\d\dT[\d:]+\+00:00; report failed: GX Data Docs "
                     r"not rendered", cells), cells
