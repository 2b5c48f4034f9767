"""Everything a run would reject or silently ignore is refused when the spec loads (and by
`lgsp specs`), naming the file, the key path and the problem; one malformed spec does not take
the others (nor the commands that do not need it) down; random spec mutations are either
rejected so, or accepted and runnable."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from catalog.spec import DATASETS_DIR, SpecError, load_catalog, load_spec


def _data(dataset: str) -> dict:
    return yaml.safe_load((DATASETS_DIR / f"{dataset}.yaml").read_text("utf-8"))


def _specs_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    shutil.copytree(DATASETS_DIR, folder)
    return folder


def _write(folder: Path, data: dict) -> Path:
    path = folder / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _check_index(data: dict, rule: str, column: str | None = None) -> int:
    return next(i for i, c in enumerate(data["quality"]["checks"])
                if c["rule"] == rule and (column is None or c.get("column") == column))


def _set(key: str, value: object):
    def mutate(d: dict) -> None:
        d[key] = value
    return mutate


def _param(key: str, value: object):
    def mutate(d: dict) -> None:
        d["source"]["params"][key] = value
    return mutate


def _drop_param(key: str):
    def mutate(d: dict) -> None:
        d["source"]["params"].pop(key)
    return mutate


def _check(rule: str, which: str | None, **changes: object):
    def mutate(d: dict) -> None:
        check = d["quality"]["checks"][_check_index(d, rule, which)]
        for key, value in changes.items():
            if value is None:
                check.pop(key, None)
            else:
                check[key] = value
    return mutate


def _rename_check_param(rule: str, column: str, old: str, new: str):
    def mutate(d: dict) -> None:
        check = d["quality"]["checks"][_check_index(d, rule, column)]
        check[new] = check.pop(old)
    return mutate


# (dataset, mutation, key path expected in the message, problem expected in the message)
CASES = [
    ("population", _set("schedule", "61 * * * *"), "schedule", "not a valid cron expression"),
    ("population", _set("schedule", "@fortnightly"), "schedule", "is not a preset"),
    ("population", lambda d: d["source"].update(connector="carrier_pigeon"),
     "source.connector", "unknown transport 'carrier_pigeon'; available: "),
    ("population", _param("page_sise", 500), "source.params.page_sise",
     "unknown parameter of transport rest"),
    ("population", _drop_param("base_url"), "source.params", "needs the parameter 'base_url'"),
    ("population", _param("page_size", "lots"), "source.params.page_size", "expected an integer"),
    ("land_parcels", _param("paging", "sideways"), "source.params.paging",
     "'sideways' is not one of auto, keyset, cursor"),
    ("population", lambda d: d["quality"]["checks"].append({"rule": "telepathy", "column": "sex"}),
     "quality.checks.10.rule", "unknown rule 'telepathy'; known rules: "),
    ("population", _rename_check_param("in_set", "sex", "values", "valuez"),
     "quality.checks.3.valuez", "unknown parameter of rule in_set; it takes: values, when"),
    ("population", _check("in_set", "sex", values=None), "quality.checks.3",
     "rule in_set needs the parameter 'values'"),
    ("population", _check("personal_id", "personal_id", date_of_birth="dob"),
     "quality.checks.2.date_of_birth", "'dob' is not a declared column"),
    ("population", _check("date_between", "date_of_birth", min="1900-13-01"),
     "quality.checks.5.min", "not a date"),
    ("population", _check("in_set", "sex", column=None, columns=["sex", "status"]),
     "quality.checks.3.columns", "in_set checks one column"),
    ("business_registry", _check("vsic_code", "sector_code", level=7),
     "quality.checks.10.level", "7 is not one of 2, 3, 4, 5"),
    ("business_registry", _check("exists_in", "owner_personal_id", dataset="populaton"),
     "quality.checks.9.dataset", "no dataset spec 'populaton'"),
    ("business_registry", _check("exists_in", "owner_personal_id", other_column="person_id"),
     "quality.checks.9.other_column", "'person_id' is not a column of dataset 'population'"),
    ("insurance_members", _check("exists_in", "personal_id", dataset="business_registry"),
     "quality.checks.11.other_column",
     "not given, and 'personal_id' is not a column of dataset 'business_registry'"),
    ("insurance_members", _check("card_validity", None, columns=["card_valid_from"]),
     "quality.checks.7.columns", "card_validity needs exactly two columns"),
    ("insurance_members", _check("card_matches_bhxh", "card_number", bhxh_column="bhxh"),
     "quality.checks.6.bhxh_column", "'bhxh' is not a declared column"),
    ("land_parcels", _rename_check_param("land_use_code", "land_use_code", "version_column",
                                         "version_colum"),
     "quality.checks.3.version_colum", "unknown parameter of rule land_use_code"),
    ("gaps", lambda d: d["source"]["inputs"].append("pension_registry"), "source.inputs.5",
     "no dataset spec 'pension_registry'"),
]


@pytest.mark.parametrize(("dataset", "mutate", "key_path", "problem"), CASES,
                         ids=[f"{c[0]}:{c[2]}" for c in CASES])
def test_what_a_run_rejects_or_ignores_is_refused_at_load(tmp_path, dataset, mutate, key_path,
                                                            problem):
    folder = _specs_dir(tmp_path)
    data = _data(dataset)
    mutate(data)
    path = _write(folder, data)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert re.search(rf"^  - {re.escape(key_path)}: .*{re.escape(problem)}", message, re.M), message


def _runner_env(folder: Path, home: Path) -> dict[str, str]:
    return {"LGSP_SPECS_DIR": str(folder), "LGSP_HOME": str(home)}


def test_lgsp_specs_lists_the_good_specs_and_names_the_bad_one(tmp_path):
    from lgsp.cli import app

    folder = _specs_dir(tmp_path)
    land = _data("land_parcels")
    land["schedule"] = "every day"
    _write(folder, land)
    gaps = _data("gaps")  # loads, but the run would reject its `when`: found by the dry run
    gaps["quality"]["checks"][0]["when"] = "gap_typ = 'x'"
    _write(folder, gaps)
    result = CliRunner().invoke(app, ["specs"], env=_runner_env(folder, tmp_path / "home"))
    assert result.exit_code == 1
    out = result.stdout + result.stderr
    for good in ("population", "land_certificates", "business_registry", "person_linked"):
        assert f"│ {good}" in out
    assert "│ land_parcels" not in out and "│ gaps " not in out
    assert f"{folder / 'land_parcels.yaml'}: invalid dataset spec" in out
    assert "schedule: 'every day' is not a valid cron expression" in out
    assert f"{folder / 'gaps.yaml'}: invalid dataset spec (dry run)" in out
    assert 'quality.checks.0 (in_set): in_set:gap_type: Binder Error: Referenced column "gap_typ"' in out


def test_one_malformed_spec_leaves_the_others_loadable(tmp_path):
    folder = _specs_dir(tmp_path)
    (folder / "land_parcels.yaml").write_text("id: land_parcels\ncolumns: [unclosed\n", "utf-8")
    catalog = load_catalog(folder)
    assert [p.name for p in catalog.errors] == ["land_parcels.yaml"]
    assert "not valid YAML" in str(catalog.errors[folder / "land_parcels.yaml"])
    assert catalog.ids == {"business_registry", "gaps", "insurance_members", "land_certificates",
                           "person_linked", "population"}


def test_lgsp_run_of_a_dataset_works_while_another_spec_is_malformed(tmp_path):
    from lgsp.cli import app

    folder = _specs_dir(tmp_path)
    (folder / "land_parcels.yaml").write_text("id: land_parcels\ncolumns: [unclosed\n", "utf-8")
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["run", "population", "--size", "300", "--seed", "3"],
                                env=_runner_env(folder, home))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "population" in result.stdout and "published" in result.stdout
    asked_for_it = CliRunner().invoke(app, ["run", "land_parcels"], env=_runner_env(folder, home))
    assert asked_for_it.exit_code == 2
    assert f"{folder / 'land_parcels.yaml'}: not valid YAML" in asked_for_it.stderr


def test_lgsp_run_of_every_dataset_runs_the_good_ones_and_fails_naming_the_bad_one(tmp_path):
    from lgsp.cli import app

    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(DATASETS_DIR / "population.yaml", folder)
    (folder / "land_parcels.yaml").write_text("id: land_parcels\ncolumns: [unclosed\n", "utf-8")
    result = CliRunner().invoke(app, ["run", "--size", "300", "--seed", "3"],
                                env=_runner_env(folder, tmp_path / "home"))
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "published" in result.stdout  # population ran
    assert "land_parcels failed: invalid dataset spec (left out)" in result.stdout
    assert f"{folder / 'land_parcels.yaml'}: not valid YAML" in result.stderr


def test_exists_in_on_a_dataset_whose_spec_is_gone_fails_the_run_never_drops(tmp_path):
    from expectations.rules import ReferenceMissing, compile_checks

    folder = _specs_dir(tmp_path)
    spec = load_spec(folder / "business_registry.yaml")
    (folder / "population.yaml").unlink()  # removed after the spec was loaded
    with pytest.raises(ReferenceMissing, match="exists_in on owner_personal_id: there is no "
                                               "dataset spec 'population'"):
        compile_checks(spec, tmp_path / "communes.parquet", curated_files=lambda other: [])


def test_exists_in_against_an_unpublished_dataset_is_kept_and_says_why(tmp_path):
    import duckdb

    from expectations.rules import compile_checks

    spec = load_spec(DATASETS_DIR / "business_registry.yaml")
    checks = [c for c in compile_checks(spec, tmp_path / "communes.parquet",
                                        curated_files=lambda other: [])
              if c.rule == "exists_in"]
    assert len(checks) == 1
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT '001099000001' AS owner_personal_id, 1 AS _row")
    reasons = con.execute(f"SELECT {checks[0].reason} FROM t WHERE {checks[0].over('t')}").fetchall()
    assert reasons == [("owner_personal_id: '001099000001' is not in population.personal_id "
                        "(population has no published snapshot yet)",)]


# --- property: random mutations are rejected with file and key path, or accepted and runnable

_PROBLEM_LINE = re.compile(r"^  - [A-Za-z_][\w.]*( \([^)]*\))?: \S")
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 99), st.text(max_size=8),
                    st.sampled_from(["today", "2020-01-01", "sex", "personal_id", "population",
                                     "@daily", "0 3 * * *", "* * *", "rest", "sql", "not_null"]),
                    st.lists(st.sampled_from(["sex", "status", "x", 1]), max_size=3))


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, prefix + (i,))
    return out


def _mutate(data: dict, path: tuple, action: str, value: object) -> None:
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        parent.pop(last) if isinstance(parent, dict) else parent.pop(last)
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{last}_x"] = parent.pop(last)
    else:
        parent[last] = value


@pytest.fixture(scope="module")
def communes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from expectations.reference import ensure_reference

    return ensure_reference(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _specs_dir(tmp_path_factory.mktemp("mutations"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_are_rejected_with_file_and_key_path_or_run(data, folder, communes):
    from expectations.spec_dry_run import dry_run

    dataset = data.draw(st.sampled_from(["population", "land_certificates", "insurance_members"]))
    spec_data = copy.deepcopy(_data(dataset))
    mutated = []
    for _ in range(data.draw(st.integers(1, 2))):
        paths = [p for p in _paths(spec_data) if p[0] != "id"]
        path = data.draw(st.sampled_from(paths))
        mutated.append(path)
        _mutate(spec_data, path, data.draw(st.sampled_from(["delete", "rename", "replace"])),
                data.draw(_VALUES))
    path = _write(folder, spec_data)
    try:
        try:
            spec = load_spec(path)
        except SpecError as err:
            lines = str(err).splitlines()
            assert lines[0].startswith(f"{path}: "), lines
            assert lines[1:] and all(_PROBLEM_LINE.match(line) for line in lines[1:]), lines
            return
        # Accepted: then the run's own steps take it (transport built, every check's SQL
        # planned over the raw columns), or `lgsp specs`' dry run names the check whose SQL
        # (a `when` condition, say) DuckDB cannot plan: SQL is not parsed at load (no DuckDB
        # at DAG parse), but never reaches a run unreported.
        checks = {f"quality.checks.{p[2]}" for p in mutated
                  if p[:2] == ("quality", "checks") and len(p) > 2}
        for problem in dry_run(spec, communes):
            assert problem.split(" ", 1)[0] in checks, (problem, mutated)
    finally:
        shutil.copy(DATASETS_DIR / f"{dataset}.yaml", path)


def test_loading_and_checking_specs_imports_nothing_heavy():
    """Specs load at every DAG parse and CLI start: the checks read the rules' and transports'
    declarations from source, so no DuckDB, pyarrow, GX, requests or SQLAlchemy is imported."""
    import subprocess
    import sys

    probe = ("import sys; from catalog.spec import load_catalog; c = load_catalog(); "
             "assert c.specs and not c.errors; "
             "print(sorted(m for m in ('duckdb', 'pyarrow', 'great_expectations', 'requests', "
             "'sqlalchemy', 'airflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_query_works_while_a_spec_is_malformed(tmp_path):
    from lgsp.cli import app

    folder = _specs_dir(tmp_path)
    (folder / "land_parcels.yaml").write_text("id: land_parcels\ncolumns: [unclosed\n", "utf-8")
    result = CliRunner().invoke(app, ["query", "SELECT 41 + 1 AS answer"],
                                env=_runner_env(folder, tmp_path / "home"))
    assert result.exit_code == 0, result.output
    assert "42" in result.stdout
