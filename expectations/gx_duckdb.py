"""Great Expectations on DuckDB through SQLAlchemy, and the run of a dataset's suite.

GX 1.24 closes its SQLAlchemy connection before it fetches rows for dialects it does not
know, so every expectation on DuckDB fails with IndexError. GX keeps the connection open for
the dialects in `sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS`; we add DuckDB
there (`enable_duckdb()`). That tuple is private, so great-expectations is pinned in
pyproject.toml and tests/expectations/test_gx_duckdb.py fails loudly if an upgrade moves it.

Import this module only inside tasks: importing GX costs seconds and ~270 MB.
"""

from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from expectations.rules import RowCheck, group_query, groups

log = logging.getLogger(__name__)
SUPPORTED_GX = "1.24."


class _DuckDBDialect(str, enum.Enum):
    DUCKDB = "duckdb"


def enable_duckdb() -> None:
    """Make GX keep its DuckDB connection open while it fetches results (idempotent)."""
    import great_expectations as gx
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine

    if not gx.__version__.startswith(SUPPORTED_GX):
        raise RuntimeError(
            f"great-expectations {gx.__version__} is not the pinned {SUPPORTED_GX}x: re-check "
            "the DuckDB persisted-connection patch in expectations/gx_duckdb.py"
        )
    dialects = engine._PERSISTED_CONNECTION_DIALECTS
    if not any(getattr(d, "value", d) == "duckdb" for d in dialects):
        engine._PERSISTED_CONNECTION_DIALECTS = (*dialects, _DuckDBDialect.DUCKDB)


def share_exceeded(count: int, rows: int, max_share: float) -> bool:
    """Whether `count` of `rows` is more than the share allowed: the gate's quarantine-rate
    rule and the GX expectations below use this one comparison, so both decide alike."""
    return count > 0 and count / max(1, rows) > max_share


SEVERITY_SHARE_NEVER_BLOCKS = 1.0
"""The share a `warn` check may flag: all rows (counted and reported, never blocking)."""


def allowed_share(severity: str, max_quarantine_rate: float) -> float:
    """The share of a run's rows a check of this severity may flag while the run still
    publishes: none for `critical`, the spec's `max_quarantine_rate` for `quarantine`, all
    for `warn`."""
    if severity == "critical":
        return 0.0
    if severity == "warn":
        return SEVERITY_SHARE_NEVER_BLOCKS
    return max_quarantine_rate


_COUNT_ONLY: dict[str, type] = {}


def count_only_expectation() -> type:
    """`UnexpectedRowsExpectation` that asks GX for the count of unexpected rows only, and
    succeeds when the check would not stop the publish on its own.

    The stock expectation also resolves the `unexpected_rows_query.table` metric (its query
    run again, 200 rows fetched into dicts) for every result format, and then drops those
    rows unless the format is COMPLETE. The gate reads counts (BASIC) and keeps the bad rows
    itself, in the quarantine, so that second query per expectation is pure cost.
    `max_unexpected_share` is the share of the batch's rows (`table.row_count`, one count
    shared by every expectation of the suite) the check may flag: 0 for a critical check,
    the quarantine limit for a quarantine check, 1 for a warn check (see `allowed_share`).
    Suites store it as `unexpected_rows_count_expectation`; Data Docs render it like the
    stock one (the renderers are inherited), with its description.

    Also registers `quarantined_share_expectation` (see `quarantined_share_expectation`)."""
    if not _COUNT_ONLY:
        from great_expectations.expectations import UnexpectedRowsExpectation
        from great_expectations.expectations.expectation import BatchExpectation

        class UnexpectedRowsCountExpectation(UnexpectedRowsExpectation):
            max_unexpected_share: float = 0.0
            metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.row_count",
                                                              "table.row_count")
            success_keys: ClassVar[tuple[str, ...]] = ("unexpected_rows_query",
                                                       "max_unexpected_share")

            def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                          execution_engine: Any = None) -> dict[str, Any]:
                count = metrics["unexpected_rows_query.row_count"]
                rows = metrics["table.row_count"]
                return {"success": not share_exceeded(count, rows, self.max_unexpected_share),
                        "result": {"observed_value": count,
                                   "details": {"rows": rows,
                                               "max_unexpected_share": self.max_unexpected_share}}}

        class QuarantinedShareExpectation(BatchExpectation):
            """The run's quarantined rows (those failing any critical or quarantine check,
            counted by the gate's split and cross-checked against GX per check) are at most
            `max_share` of the batch's rows (`table.row_count`, counted by GX)."""

            quarantined_rows: int
            max_share: float
            metric_dependencies: ClassVar[tuple[str, ...]] = ("table.row_count",)
            success_keys: ClassVar[tuple[str, ...]] = ("quarantined_rows", "max_share")
            domain_keys: ClassVar[tuple[str, ...]] = ("batch_id", "row_condition",
                                                      "condition_parser")

            def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                          execution_engine: Any = None) -> dict[str, Any]:
                rows = metrics["table.row_count"]
                return {"success": not share_exceeded(self.quarantined_rows, rows, self.max_share),
                        "result": {"observed_value": self.quarantined_rows,
                                   "details": {"rows": rows, "max_share": self.max_share}}}

        _COUNT_ONLY["class"] = UnexpectedRowsCountExpectation
        _COUNT_ONLY["share"] = QuarantinedShareExpectation
    return _COUNT_ONLY["class"]


def quarantined_share_expectation() -> type:
    """The expectation standing for the gate's quarantine-rate rule (registered with
    `count_only_expectation`)."""
    count_only_expectation()
    return _COUNT_ONLY["share"]


def _severity(members: list[RowCheck]) -> str:
    """A spec check's severity (its row checks share it; the strictest if they ever differ)."""
    found = {m.severity for m in members}
    for severity in ("critical", "quarantine", "warn"):
        if severity in found:
            return severity
    return "quarantine"


def _severity_note(severity: str, max_quarantine_rate: float) -> str:
    if severity == "critical":
        return "critical: any failing row blocks the publish"
    if severity == "warn":
        return "warn: failing rows are counted and reported, never block"
    return (f"quarantine: failing rows are set aside; blocks above {max_quarantine_rate:.0%} "
            "of the rows")


@dataclass
class ExpectationOutcome:
    name: str
    success: bool
    unexpected_count: int | None
    observed: Any
    error: str | None


@dataclass
class SuiteOutcome:
    success: bool
    outcomes: list[ExpectationOutcome]
    result_key: list[str] | None
    """The stored validation result (ValidationResultIdentifier as a tuple of strings)."""


GROUP_META = "lgsp_check"
"""Expectation meta key naming the spec check an expectation stands for."""
SEVERITY_META = "lgsp_severity"
"""Expectation meta key holding the check's severity (critical, quarantine, warn)."""
QUARANTINE_RATE = "quarantine_rate"
"""The outcome name of the quarantine-rate expectation."""
_GX_SEVERITY = {"critical": "critical", "quarantine": "warning", "warn": "info"}
"""GX's own failure severity for each of ours (informational in GX)."""


def _gx_query(checks: list[RowCheck]) -> str:
    """GX fills {batch} with str.format: double every other brace (regex quantifiers)."""
    marker = "\x00batch\x00"
    sql = group_query(checks, marker).replace("{", "{{").replace("}", "}}")
    return sql.replace(marker, "{batch}")


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """GX reports errors either at the top level or per metric; find the first message."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _context(project_dir: Path | None):  # type: ignore[no-untyped-def]
    import great_expectations as gx

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    if project_dir is None:
        return gx.get_context(mode="ephemeral")
    project_dir.mkdir(parents=True, exist_ok=True)
    return gx.get_context(mode="file", project_root_dir=str(project_dir))


def run_suite(
    dataset: str,
    run_id: str,
    source_sql: str,
    checks: list[RowCheck],
    column_names: list[str],
    min_rows: int,
    project_dir: Path | None = None,
    database: Path | None = None,
    memory_limit: str | None = None,
    max_quarantine_rate: float = 0.0,
    quarantined_rows: int | None = None,
) -> SuiteOutcome:
    """Validate `source_sql` (a DuckDB SELECT over the raw run, in `database` or an
    in-memory DuckDB limited to `memory_limit`, default the general limit) with a suite of
    one expectation per declared spec check (its row checks OR-ed), in GX, SQL pushed down
    to DuckDB. Outcomes are named by group. With `project_dir` the suite, the validation
    definition and the result are kept in that GX project (`result_key` names the result;
    `build_data_docs` renders it).

    The suite succeeds exactly when the gate lets the run publish: each check's expectation
    fails only when its rows alone would block (`allowed_share` of its severity), and with
    `quarantined_rows` (the split's count) one more stands for the quarantine-rate limit.
    So Data Docs show a published run with quarantined rows as succeeded and a blocked run
    as failed, with the expectation that blocked it."""
    enable_duckdb()
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier

    count_only = count_only_expectation()  # registered before a file context loads its suites
    share = quarantined_share_expectation()
    context = _context(project_dir)
    try:
        context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
    except Exception:  # noqa: BLE001 - progress bars are cosmetic
        pass
    name = f"{dataset}"
    for existing in list(context.data_sources.all()):
        if existing == name:
            context.data_sources.delete(name)
    url = f"duckdb:///{database}" if database is not None else "duckdb:///:memory:"
    from warehouse.duck import DEFAULT_MEMORY_LIMIT, DEFAULT_THREADS, temp_directory

    datasource = context.data_sources.add_sql(
        name=name, connection_string=url,
        kwargs={"connect_args": {"config": {"memory_limit": memory_limit or DEFAULT_MEMORY_LIMIT,
                                            "threads": DEFAULT_THREADS,
                                            "temp_directory": temp_directory()}}})
    asset = datasource.add_query_asset(name=f"{dataset}_raw", query=source_sql)
    batch = asset.add_batch_definition_whole_table("run")

    expectations: list[Any] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=min_rows),
        gxe.ExpectTableColumnsToMatchSet(column_set=column_names, exact_match=False),
    ]
    for group, members in groups(checks).items():
        severity = _severity(members)
        expectations.append(count_only(
            unexpected_rows_query=_gx_query(members),
            max_unexpected_share=allowed_share(severity, max_quarantine_rate),
            description=(f"{group}: " + "; ".join(m.description for m in members)
                         + f" ({_severity_note(severity, max_quarantine_rate)})"),
            meta={GROUP_META: group, SEVERITY_META: severity},
            severity=_GX_SEVERITY[severity],
        ))
    if quarantined_rows is not None:
        expectations.append(share(
            quarantined_rows=quarantined_rows, max_share=max_quarantine_rate,
            description=(f"At most {max_quarantine_rate:.0%} of the rows quarantined (rows "
                         "failing a critical or quarantine check; observed: the rows "
                         "quarantined)"),
            meta={GROUP_META: QUARANTINE_RATE},
        ))
    suite_name = f"{dataset}_suite"
    try:
        context.suites.delete(suite_name)
    except Exception:  # noqa: BLE001 - absent on first run
        pass
    # The whole suite in one write: added one by one, a file context rewrites the suite's
    # JSON for every expectation.
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))

    vd_name = f"{dataset}_validation"
    try:
        context.validation_definitions.delete(vd_name)
    except Exception:  # noqa: BLE001
        pass
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=vd_name, data=batch, suite=suite)
    )
    run = RunIdentifier(run_name=run_id)
    result = validation.run(result_format="BASIC", run_id=run)
    key = None
    if project_dir is not None:
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        key = list(ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=run, batch_identifier=result.batch_id).to_tuple())

    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        label = (cfg.meta or {}).get(GROUP_META, cfg.type)
        res = r.result or {}
        count = res.get("unexpected_count")
        if count is None and cfg.type in ("unexpected_rows_expectation",
                                          "unexpected_rows_count_expectation"):
            count = res.get("observed_value")
        err = _exception_message(r.exception_info)
        outcomes.append(
            ExpectationOutcome(
                name=label,
                success=bool(r.success),
                unexpected_count=int(count) if isinstance(count, int) else None,
                observed=res.get("observed_value"),
                error=err,
            )
        )
    return SuiteOutcome(success=bool(result.success), outcomes=outcomes, result_key=key)


def build_data_docs(project_dir: Path, result_keys: list[list[str]]) -> str | None:
    """Render GX Data Docs for the given validation results and the index page; return the
    index's URL. Reporting, apart from the gate: it never delays or
    blocks a publish, and one build covers every dataset of a run."""
    enable_duckdb()
    from great_expectations.data_context.types.resource_identifiers import (
        ValidationResultIdentifier,
    )

    count_only_expectation()
    context = _context(project_dir)
    ids = [ValidationResultIdentifier.from_tuple(tuple(k)) for k in result_keys]
    sites = context.build_data_docs(resource_identifiers=ids)
    return next(iter(sites.values()), None)
