"""The insurance registry end to end over real SOAP/HTTP: extract -> gate (GX) -> Iceberg.

Happy path with every seeded defect in quarantine with a readable reason and the
cross-registry check against the published population; re-runs without duplicates;
incremental pulls of exactly the changes; schema drift (a new element kept and reported, a
missing optional element reported, a missing required element blocking the publish); partial
and corrupt pages; the service going away mid-extract (nothing published, the next run
completes); the Airflow DAG built from the spec.
"""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import requests

from connectors.base import ConnectorError, RetryBudgetExhausted
from connectors.state import StateStore
from expectations.gate import GateResult, staging_dir
from lgsp import pipeline
from registries.insurance.generator import DEFAULT_AS_OF, generate_insurance
from tests.data_docs import validation_pages
from tests.gx_agreement import assert_gx_agrees_with_split
from tests.insurance.conftest import (
    SEED,
    SIZE,
    Admin,
    point_at,
    publish_population,
    spec_with,
    start_registry,
)
from warehouse import iceberg
from warehouse.query import curated_connection
from warehouse.raw_zone import RawRun

REJECTED = {"card_bhxh_mismatch", "level_not_allowed", "card_bad_pattern", "validity_reversed",
            "bhxh_bad_format", "date_invalid"}


def _scalar(settings, sql, params=None):
    return curated_connection(settings).execute(sql, params or []).fetchone()[0]


def _nothing_published(settings) -> None:
    assert not iceberg.load_catalog(settings).table_exists(("curated", "insurance_members"))
    assert StateStore(settings.state_dir).get("insurance_members").watermark is None
    folder = settings.raw_dir / "insurance_members"
    assert not list(folder.glob("2*")), "no committed raw run"
    assert not list(folder.glob(".tmp-*")), "the aborted run was cleaned up"


def test_happy_path_defects_quarantined_rerun_and_incremental(env, admin):
    settings = env
    publish_population(settings)
    truth = generate_insurance(SIZE, SEED, as_of=DEFAULT_AS_OF).members
    defects = truth.column("_defect").to_pylist()
    bhxh = truth.column("bhxh_number").to_pylist()
    spec = spec_with()

    summary = pipeline.run_dataset(spec, settings, use_gx=True)
    assert summary.extracted == truth.num_rows
    assert not summary.blocked, summary.block_reasons
    assert summary.published + summary.quarantined == summary.extracted

    # Exactly the seeded defects are quarantined, each with a reason naming field and value.
    con = curated_connection(settings)
    quarantined = dict(con.execute(
        "SELECT bhxh_number, _reasons FROM insurance_members_quarantine").fetchall())
    assert set(quarantined) == {b for b, d in zip(bhxh, defects, strict=True) if d in REJECTED}
    by_kind = {d: b for b, d in zip(bhxh, defects, strict=True) if d in REJECTED}
    assert "differs from bhxh_number" in quarantined[by_kind["card_bhxh_mismatch"]]
    assert "is not allowed for group" in quarantined[by_kind["level_not_allowed"]]
    assert "is not a health-insurance card number" in quarantined[by_kind["card_bad_pattern"]]
    assert "is before card_valid_from" in quarantined[by_kind["validity_reversed"]]
    assert "is not 10 digits" in quarantined[by_kind["bhxh_bad_format"]]
    assert "is not a valid date" in quarantined[by_kind["date_invalid"]]

    # Members unknown to the population are a warning, not a rejection: they are curated.
    gate = GateResult.load(staging_dir(settings, spec.id, summary.run_id))
    assert gate.gx_result, "Great Expectations ran and stored its result"
    index = pipeline.data_docs(settings, [(spec.id, summary.run_id)])
    assert index and index.startswith("file://")
    found, pages = validation_pages(settings.home)
    assert index == found.as_uri()
    assert [p for p in pages if summary.run_id in p.parts], "a Data Docs page for this run"
    assert GateResult.load(staging_dir(settings, spec.id, summary.run_id)).data_docs == index
    assert_gx_agrees_with_split(gate)
    assert _scalar(settings, "SELECT count(*) FROM insurance_members WHERE personal_id NOT IN "
                             "(SELECT personal_id FROM population)") \
        == defects.count("unknown_personal_id") > 0
    # Everyone else is a real person of the population, with the same name and birth date.
    assert _scalar(settings, "SELECT count(*) FROM insurance_members m JOIN population p "
                             "USING (personal_id) WHERE m.full_name <> p.full_name "
                             "OR m.date_of_birth <> p.date_of_birth") == 0
    assert _scalar(settings, "SELECT count(*) FROM insurance_members") == summary.total_rows
    assert _scalar(settings, "SELECT count(*) - count(DISTINCT bhxh_number) "
                             "FROM insurance_members") == 0
    assert _scalar(settings, "SELECT count(*) FROM insurance_members WHERE employer_code IS NOT "
                             "NULL AND substr(card_number, 1, 2) NOT IN ('DN', 'HC')") == 0

    # The same window again: nothing new, no duplicates.
    StateStore(settings.state_dir).reset(spec.id)
    again = pipeline.run_dataset(spec, settings, use_gx=False)
    assert again.extracted == truth.num_rows
    assert again.total_rows == summary.total_rows
    assert _scalar(settings, "SELECT count(*) - count(DISTINCT bhxh_number) "
                             "FROM insurance_members") == 0

    # Time passes at the agency: the incremental pull gets exactly the changes.
    change = admin.advance(days=30, renewals=25, enrolments=15, employer_changes=10)
    assert change["changed"] == 50
    inc = pipeline.run_dataset(spec, settings, use_gx=False)
    assert inc.extracted == 50 and inc.quarantined == 0
    assert inc.total_rows == summary.total_rows + 15
    assert _scalar(settings, "SELECT count(*) FROM insurance_members WHERE _run_id = ?",
                   [inc.run_id]) == 50
    assert _scalar(settings, "SELECT count(*) - count(DISTINCT bhxh_number) "
                             "FROM insurance_members") == 0
    table = iceberg.load_catalog(settings).load_table(("curated", "insurance_members"))
    assert len(table.snapshots()) == 3


def test_members_unknown_to_the_population_are_counted_by_the_warn_check(env):
    settings = env
    publish_population(settings)
    truth = generate_insurance(SIZE, SEED, as_of=DEFAULT_AS_OF).members
    summary = pipeline.run_dataset(spec_with(), settings, use_gx=False)
    gate = GateResult.load(staging_dir(settings, "insurance_members", summary.run_id))
    exists = next(c for c in gate.checks if c.rule == "exists_in")
    assert exists.severity == "warn"
    assert exists.failed_rows == truth.column("_defect").to_pylist().count("unknown_personal_id")


def test_schema_drift_new_element_kept_missing_optional_reported(env, admin):
    settings = env
    admin.schema(add={"noiDangKyKcb": "96001"}, drop=["maDonVi"])
    summary = pipeline.run_dataset(spec_with(), settings, use_gx=False)
    assert not summary.blocked, summary.block_reasons
    [run_dir] = (settings.raw_dir / "insurance_members").glob("2*")
    run = RawRun.load(run_dir)
    assert run.manifest["schema_drift"] == {"extra_columns": ["noiDangKyKcb"],
                                            "missing_columns": ["employer_code"]}
    raw = pq.read_table(run.files)
    assert "noiDangKyKcb" in raw.column_names and "employer_code" not in raw.column_names
    assert pc.all(pc.equal(raw.column("noiDangKyKcb"), "96001")).as_py()
    gate = GateResult.load(staging_dir(settings, "insurance_members", run.run_id))
    assert gate.drift["missing_columns"] == ["employer_code"]
    assert _scalar(settings, "SELECT count(*) FROM insurance_members WHERE employer_code "
                             "IS NOT NULL") == 0


def test_missing_required_element_blocks_the_publish_naming_the_column(env, admin):
    admin.schema(drop=["gtTheDen"])
    summary = pipeline.run_dataset(spec_with(), env, use_gx=False)
    assert summary.blocked
    assert any("required column(s) card_valid_to missing from the source" in r
               for r in summary.block_reasons), summary.block_reasons
    assert not iceberg.load_catalog(env).table_exists(("curated", "insurance_members"))


def test_partial_pages_are_retried_and_a_corrupt_source_fails_clearly(env, admin):
    settings = env
    members = admin.stats()["members"]
    admin.faults({"kind": "truncate", "after_pages": 1, "count": 1},
                 {"kind": "drop", "after_pages": 2, "count": 1})
    run = pipeline.extract(spec_with(), settings)
    assert run.row_count == members
    retries = run.manifest["requests"]["retries"]
    assert len(retries) == 2
    assert "page 2" in retries[0] and "not well-formed XML (cut short or corrupt)" in retries[0]
    assert "connection failed" in retries[1]

    settings2 = settings.__class__(home=settings.home / "second", specs_dir=settings.specs_dir)
    admin.faults({"kind": "corrupt", "after_pages": 2, "count": 1000})
    with pytest.raises(ConnectorError) as err:
        pipeline.run_dataset(spec_with(), settings2, use_gx=False)
    # A document that is not well-formed (not merely cut short) comes back the same on
    # every retry: it fails at once, not after the retry budget.
    assert not isinstance(err.value, RetryBudgetExhausted)
    message = str(err.value)
    assert "GetMembers page 3" in message and "not well-formed (invalid token)" in message
    assert "not retried" in message
    _nothing_published(settings2)


def test_source_going_away_mid_extract_publishes_nothing_and_next_run_completes(
        settings, monkeypatch):
    with start_registry() as proc:
        point_at(monkeypatch, proc.base_url)
        members = Admin(proc.base_url).stats()["members"]
        Admin(proc.base_url).faults({"kind": "die", "after_pages": 2})
        with pytest.raises(RetryBudgetExhausted) as err:
            pipeline.run_dataset(spec_with(), settings, use_gx=False)
        assert "GetMembers page 3" in str(err.value)
        assert "connection failed" in str(err.value)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{proc.base_url}/health", timeout=2)  # the service is gone
        _nothing_published(settings)
        port = int(proc.base_url.rsplit(":", 1)[1])
    # The agency brings the service back on the same address: the next run completes.
    with start_registry(port=port):
        summary = pipeline.run_dataset(spec_with(), settings, use_gx=False)
    assert not summary.blocked and summary.extracted == members
    assert summary.total_rows == summary.published > 0
    assert len(list((settings.raw_dir / "insurance_members").glob("2*"))) == 1


def test_airflow_dag_for_the_spec():
    from lgsp.dag_factory import build_dag

    dag = build_dag(spec_with())
    assert dag.dag_id == "lgsp_insurance_members"
    assert [t.task_id for t in dag.tasks] == ["extract", "validate", "publish", "data_docs",
                                             "release_lock"]
    assert "connector:soap_xml" in dag.tags
