"""A spec's dry run: what a run would reject that loading the spec cannot see cheaply.

`lgsp specs` runs it after the load-time checks (catalog.validation): the transport is built
with its parameters (environment expanded) without contacting the source, and every quality
check is compiled and its SQL (predicate and reason, `when` included) planned by DuckDB over
an empty table of the spec's raw columns, so a bad `when`, a column a rule reads by default
that the spec lacks, or a parameter value a rule refuses is found before a run. Problems are
"<key path>: <what is wrong>", like the load-time checks. Imports DuckDB and the connectors:
for the CLI, never at DAG parse.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb

from catalog.spec import DatasetSpec
from expectations.rules import RULES, RuleContext, load_rule_modules
from warehouse.duck import quote_ident as q
from warehouse.raw_zone import ROW_COLUMN

RAW = "raw_rows"


def dry_run(spec: DatasetSpec, communes_parquet: Path) -> list[str]:
    from connectors.registry import build_connector

    found: list[str] = []
    try:
        build_connector(spec)
    except Exception as exc:  # noqa: BLE001 - reported as the spec's problem
        found.append(f"source: {_one_line(exc)}")
    load_rule_modules()
    ctx = RuleContext(spec=spec, communes_parquet=communes_parquet, curated_files=None)
    con = duckdb.connect()
    try:
        columns = ", ".join(f"{q(c)} VARCHAR" for c in spec.column_names)
        con.execute(f"CREATE TABLE {RAW} ({columns}, {q(ROW_COLUMN)} BIGINT)")
        for i, check in enumerate(spec.quality.checks):
            at = f"quality.checks.{i} ({check.rule})"
            try:
                row_checks = RULES[check.rule](check, ctx)
            except Exception as exc:  # noqa: BLE001
                found.append(f"{at}: {_one_line(exc)}")
                continue
            when = check.params.get("when") if check.rule != "exists_in" else None
            for rc in row_checks:
                if when:
                    rc = replace(rc, bad_when=f"(coalesce(({when}), false) AND {rc.bad_when})")
                try:
                    con.execute(f"EXPLAIN SELECT {rc.reason} FROM {RAW} WHERE {rc.over(RAW)}")
                except duckdb.Error as exc:
                    found.append(f"{at}: {rc.name}: {_one_line(exc)}")
                    break
    finally:
        con.close()
    return found


def _one_line(exc: BaseException) -> str:
    text = str(exc).split("\nLINE ")[0]  # DuckDB appends the statement: ours, not the spec's
    return " ".join(text.split())[:500]
