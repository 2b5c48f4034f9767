"""Checks on a loaded spec that go beyond its schema: everything a run would reject or
silently ignore, found when the spec loads.

- the schedule is one Airflow accepts (None, @once, @continuous, a preset, or a cron
  expression croniter parses, as Airflow's own timetables do);
- the transport exists, its parameters are the ones it declares (unknown names, missing
  required ones, values of the wrong kind);
- each quality check's rule exists, names the columns it needs, takes the parameters given
  (from the rule's declared signature), and every column or dataset a parameter names exists;
- derived inputs and `exists_in` datasets are specs of the same folder;
- the theme is an EU data theme (opendata.vocabularies).

Each problem is "<key path>: <what is wrong>"; catalog.spec prefixes the file. Cheap: YAML
and the rules' and transports' declarations read from source (catalog.declarations), no
DuckDB, pyarrow, GX or Airflow import.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from catalog import declarations
from catalog.declarations import COMMON_CHECK_PARAMS, Kind

if TYPE_CHECKING:
    from catalog.spec import Check, DatasetSpec

SCHEDULE_WORDS = ("@once", "@continuous")
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
"""Airflow's presets (airflow.utils.dates.cron_presets), mapped to cron expressions."""


def problems(spec: DatasetSpec, folder: Path) -> list[str]:
    found = schedule_problems(spec.schedule)
    found += connector_problems(spec)
    found += theme_problems(spec.theme)
    for i, name in enumerate(spec.source.inputs):
        if not _spec_exists(folder, name):
            found.append(f"source.inputs.{i}: no dataset spec {name!r} in {folder}")
    for i, check in enumerate(spec.quality.checks):
        found += check_problems(spec, folder, i, check)
    return found


def theme_problems(theme: str | None) -> list[str]:
    from opendata.vocabularies import theme_problem

    problem = theme_problem(theme)
    return [f"theme: {problem}"] if problem else []


def schedule_problems(schedule: str | None) -> list[str]:
    if schedule is None or schedule in SCHEDULE_WORDS or schedule in CRON_PRESETS:
        return []
    if schedule.startswith("@"):
        return [f"schedule: {schedule!r} is not a preset; use one of "
                f"{', '.join(CRON_PRESETS + SCHEDULE_WORDS)}, a cron expression or null"]
    from croniter import croniter

    try:
        croniter(schedule)
    except (ValueError, KeyError) as exc:  # croniter's errors are ValueErrors
        return [f"schedule: {schedule!r} is not a valid cron expression ({exc})"]
    return []


def connector_problems(spec: DatasetSpec) -> list[str]:
    name = spec.source.connector
    decl = declarations.connector(name)
    if decl is None:
        known = ", ".join(sorted(declarations.connectors()))
        return [f"source.connector: unknown transport {name!r}; available: {known}"]
    params = dict(spec.source.params)
    found = _common_source_problems(params)
    if decl.params is None:
        return found
    given = {k: v for k, v in params.items() if k not in COMMON_SOURCE_PARAMS}
    return found + _params_problems(spec, Path("."), "source.params", f"transport {name}",
                                    given, decl.params, decl.required, {})


COMMON_SOURCE_PARAMS = ("lag", "timezone", "reconcile")
"""Source parameters every transport takes (applied by the pipeline, not the connector):
`lag` (a lookback re-read every run), `timezone` (of timestamps stored without an offset),
`reconcile` (the schedule of the full compare, warehouse/reconcile.py)."""


def _common_source_problems(params: dict[str, Any]) -> list[str]:
    from connectors.safe_window import parse_lag, parse_zone  # stdlib only: cheap at load

    found = []
    for name, parse in (("lag", parse_lag), ("timezone", parse_zone)):
        try:
            parse(params.get(name), f"source.params.{name}")
        except ValueError as exc:
            found.append(str(exc))
    if params.get("reconcile") not in (None, ""):
        found += [p.replace("schedule:", "source.params.reconcile:", 1)
                  for p in schedule_problems(str(params["reconcile"]))]
    return found


def check_problems(spec: DatasetSpec, folder: Path, i: int, check: Check) -> list[str]:
    at = f"quality.checks.{i}"
    decl = declarations.rules().get(check.rule)
    if decl is None:
        known = ", ".join(sorted(declarations.rules()))
        return [f"{at}.rule: unknown rule {check.rule!r}; known rules: {known}"]
    found = []
    what = f"rule {check.rule}"
    if check.column is not None and check.column not in spec.column_names:
        found.append(f"{at}.column: {check.column!r} is not a declared column")
    elif check.column is not None and check.columns is not None:
        found.append(f"{at}: give `column` or `columns`, not both")
    elif decl.targets == "column":
        if check.columns is not None:
            found.append(f"{at}.columns: {what} checks one column; give it as `column`")
        elif check.column is None and decl.column is None:
            found.append(f"{at}.column: {what} needs a column")
        elif check.column is None and decl.column not in spec.column_names:
            found.append(f"{at}.column: not given, and the default column {decl.column!r} of "
                         f"{what} is not declared")
    elif decl.targets == "columns" and not check.target_columns:
        found.append(f"{at}: {what} needs `column` or `columns`")
    elif decl.targets == "pair" and len(check.columns or []) != 2:
        found.append(f"{at}.columns: {what} needs exactly two columns, e.g. [valid_from, valid_to]")
    found += _params_problems(spec, folder, at, what, check.params,
                              {**decl.params, **COMMON_CHECK_PARAMS}, decl.required, decl.defaults)
    other = other_column_problem(spec, folder, i, check)
    return found + ([other] if other else [])


def _params_problems(spec: DatasetSpec, folder: Path, at: str, what: str, given: dict[str, Any],
                     declared: dict[str, Kind], required: tuple[str, ...],
                     defaults: dict[str, str]) -> list[str]:
    found = []
    for name in sorted(set(given) - set(declared)):
        takes = ", ".join(sorted(declared)) or "no parameters"
        found.append(f"{at}.{name}: unknown parameter of {what}; it takes: {takes}")
    for name in required:
        if name not in given:
            found.append(f"{at}: {what} needs the parameter {name!r}")
    for name, kind in declared.items():
        if name in given:
            problem = _kind_problem(spec, folder, kind, given[name], given)
            if problem:
                found.append(f"{at}.{name}: {problem}")
        elif kind == "column" and name in defaults and defaults[name] not in spec.column_names:
            found.append(f"{at}.{name}: not given, and its default column {defaults[name]!r} is "
                         "not declared")
    return found


def _kind_problem(spec: DatasetSpec, folder: Path, kind: Kind, value: Any,
                  given: dict[str, Any]) -> str | None:
    if isinstance(value, str) and "${" in value:
        return None  # known only when the environment is read, at run time
    if isinstance(kind, tuple):
        if str(value) not in {str(k) for k in kind}:
            return f"{value!r} is not one of {', '.join(str(k) for k in kind)}"
        return None
    scalar = str | int | float | bool
    if kind == "any":
        return None
    if kind in ("text", "sql"):
        return None if isinstance(value, str) and value.strip() else f"expected {kind}, got {value!r}"
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else \
            f"expected an integer, got {value!r}"
    if kind == "number":
        return None if isinstance(value, int | float) and not isinstance(value, bool) else \
            f"expected a number, got {value!r}"
    if kind == "bool":
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if kind == "list":
        ok = isinstance(value, list) and value and all(isinstance(v, scalar) for v in value)
        return None if ok else f"expected a non-empty list of values, got {value!r}"
    if kind == "mapping":
        return None if isinstance(value, dict) and value else f"expected a non-empty mapping, got {value!r}"
    if kind == "date":
        if isinstance(value, dt.date) or value == "today":
            return None
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            return f"{value!r} is not a date (YYYY-MM-DD) or 'today'"
        return None
    if kind in ("column_keys", "column_values"):
        if not isinstance(value, dict) or not value:
            return f"expected a non-empty mapping, got {value!r}"
        named = value.keys() if kind == "column_keys" else value.values()
        stray = sorted({str(c) for c in named if c not in spec.column_names})
        return f"{stray} are not declared columns" if stray else None
    if kind == "column":
        if not isinstance(value, str) or value not in spec.column_names:
            return f"{value!r} is not a declared column"
        return None
    if kind == "dataset":
        if not isinstance(value, str) or not _spec_exists(folder, value):
            return f"no dataset spec {value!r} in {folder}"
        return None
    if kind == "other_column":
        if not isinstance(value, str) or not value:
            return f"expected a column name, got {value!r}"
        other = given.get("dataset")
        columns = _declared_columns(folder / f"{other}.yaml") if isinstance(other, str) else None
        if columns is not None and value not in columns:
            return f"{value!r} is not a column of dataset {other!r}"
        return None
    raise ValueError(f"unknown parameter kind {kind!r}")  # a declaration error, not a spec's


def other_column_problem(spec: DatasetSpec, folder: Path, i: int, check: Check) -> str | None:
    """exists_in without other_column compares with the same column name in the other dataset."""
    other = check.params.get("dataset")
    if check.rule != "exists_in" or "other_column" in check.params or not isinstance(other, str):
        return None
    columns = _declared_columns(folder / f"{other}.yaml")
    if columns is not None and check.column not in columns:
        return (f"quality.checks.{i}.other_column: not given, and {check.column!r} is not a "
                f"column of dataset {other!r}")
    return None


def _spec_exists(folder: Path, dataset: str) -> bool:
    return (folder / f"{dataset}.yaml").is_file()


def _declared_columns(path: Path) -> set[str] | None:
    """Column names another spec declares (None when it cannot be read: its own load reports
    that, this spec's check is not held against it)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _columns_cached(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _columns_cached(path: Path, mtime_ns: int, size: int) -> set[str] | None:
    try:
        from catalog.spec import YAML_LOADER

        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)  # noqa: S506
        return {str(c["name"]) for c in data["columns"]}
    except Exception:  # noqa: BLE001 - that spec's own load names its problem
        return None
