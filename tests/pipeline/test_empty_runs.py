"""A run with nothing new is a success: the table stays, the watermark moves, the run says
"no changes" with the table's real row count and no quality score; `min_rows` guards a full
refresh or the table after the merge, not a change window; `lgsp status` shows the last
attempt (blocked, failed) and when; `lgsp quality` says "no rows" for an empty run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from connectors.state import StateStore
from lgsp import attempts, cli, pipeline
from tests.expectations.test_gate_population import GOOD, person
from tests.pipeline.test_population_pipeline import AS_OF, _spec_with
from warehouse import iceberg
from warehouse.publish import PublishBlocked
from warehouse.query import curated_connection


def _rows(settings) -> int:
    return curated_connection(settings).execute("SELECT count(*) FROM population").fetchone()[0]


def _snapshots(settings) -> int:
    table = iceberg.load_catalog(settings).load_table(("curated", "population"))
    return len(table.snapshots())


def _gate_and_publish(spec, settings, run):
    gate = pipeline.gate_run(spec, run, settings, use_gx=False)
    return gate, (None if gate.blocked else pipeline.publish_gated(spec, run, gate, settings))


def test_a_second_run_over_the_real_registry_has_no_changes_and_succeeds(env, admin):
    settings = env
    spec = _spec_with()
    assert spec.quality.min_rows == 1 and spec.source.incremental
    first = pipeline.run_dataset(spec, settings, until=AS_OF)
    assert first.outcome == "published" and first.total_rows > 0
    snapshots = _snapshots(settings)

    later = AS_OF + timedelta(hours=6)
    again = pipeline.run_dataset(spec, settings, until=later)
    assert not again.blocked, again.block_reasons
    assert again.outcome == "no changes"
    assert (again.extracted, again.published, again.quarantined) == (0, 0, 0)
    assert again.total_rows == first.total_rows == _rows(settings)
    assert again.quality_score is None
    assert _snapshots(settings) == snapshots, "the table keeps its snapshot"
    assert StateStore(settings.state_dir).get("population").watermark == later
    last = attempts.last(settings, "population")
    assert (last.run_id, last.outcome) == (again.run_id, "no changes")


def test_an_empty_first_run_is_blocked_by_min_rows_and_keeps_the_watermark(
        population_spec, settings, raw_run_factory):
    run = raw_run_factory(population_spec, [])
    gate, _ = _gate_and_publish(population_spec, settings, run)
    assert gate.blocked
    assert gate.block_reasons == [f"no rows in run {run.run_id} and the table holds 0: below "
                                  "the minimum 1"]
    assert StateStore(settings.state_dir).get("population").watermark is None


def test_an_empty_window_on_a_filled_table_publishes_no_changes(population_spec, settings,
                                                               raw_run_factory):
    _, first = _gate_and_publish(population_spec, settings,
                                 raw_run_factory(population_spec, [GOOD, person()]))
    empty = raw_run_factory(population_spec, [], until="2026-11-02T00:00:00+00:00")
    gate, result = _gate_and_publish(population_spec, settings, empty)
    assert not gate.blocked and gate.quality_score is None
    assert result.curated_rows_total == first.curated_rows_total == 2
    assert StateStore(settings.state_dir).get("population").watermark == datetime(
        2026, 11, 2, tzinfo=UTC)
    history = (settings.quality_dir / "population" / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["quality_score"] is None


def test_min_rows_guards_the_table_after_the_merge(population_spec, settings, raw_run_factory):
    gone = person()
    _gate_and_publish(population_spec, settings, raw_run_factory(population_spec, [gone]))
    # The run deletes the table's only row: the gate cannot know which keys exist, the
    # publish counts the merged table and refuses it.
    tombstone = {"personal_id": gone["personal_id"], "updated_at": "2026-11-05T00:00:00Z",
                 "_deleted": "true"}
    run = raw_run_factory(population_spec, [tombstone], until="2026-11-06T00:00:00+00:00")
    gate = pipeline.gate_run(population_spec, run, settings, use_gx=False)
    assert not gate.blocked
    with pytest.raises(PublishBlocked, match="the table would hold 0 rows, below the minimum 1"):
        pipeline.publish_gated(population_spec, run, gate, settings)
    assert _rows(settings) == 1
    assert StateStore(settings.state_dir).get("population").watermark.day == 1
    assert attempts.last(settings, "population").outcome == "blocked"


def test_min_rows_guards_a_full_refresh(population_spec, settings, raw_run_factory):
    spec = population_spec.model_copy(update={
        "source": population_spec.source.model_copy(update={"incremental": False}),
        "quality": population_spec.quality.model_copy(update={"min_rows": 3})})
    gate, _ = _gate_and_publish(spec, settings, raw_run_factory(spec, [GOOD, person()]))
    assert gate.blocked
    assert gate.block_reasons == [f"full-refresh run {gate.run_id}: row count 2 is below the "
                                  "minimum 3"]


def _cli(args: list[str]) -> str:
    cli.console.width = 400  # one line per table row, whatever the reasons' length
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_status_shows_the_last_attempt_and_when(population_spec, settings, raw_run_factory):
    _gate_and_publish(population_spec, settings, raw_run_factory(population_spec, [GOOD]))
    bad = raw_run_factory(population_spec, [person(personal_id=f"0030850{i:05d}")
                                            for i in range(4)])
    gate, _ = _gate_and_publish(population_spec, settings, bad)
    assert gate.blocked
    last = attempts.last(settings, "population")
    assert datetime.fromisoformat(last.at).tzinfo is not None
    line = next(ln for ln in _cli(["status"]).splitlines() if "population " in ln)
    assert f"blocked {last.at} in validate: 100.0% of rows quarantined" in line
    assert "100.00%" in line, "the last publish and its score are still shown"

    def failing_extract() -> None:  # a source that cannot be reached
        spec = population_spec.model_copy(update={"source": population_spec.source.model_copy(
            update={"params": {**population_spec.source.params,
                               "base_url": "http://127.0.0.1:9/",
                               "retry": {"max_attempts": 1}}})})
        pipeline.extract(spec, settings)

    with pytest.raises(Exception):  # noqa: B017 - any connection error
        failing_extract()
    line = next(ln for ln in _cli(["status"]).splitlines() if "population " in ln)
    assert "failed" in line and " in extract: " in line



def test_status_of_one_dataset_prints_each_field_on_its_line(population_spec, settings,
                                                           raw_run_factory):
    _gate_and_publish(population_spec, settings, raw_run_factory(population_spec, [GOOD]))
    bad = raw_run_factory(population_spec, [person(personal_id=f"0030850{i:05d}")
                                            for i in range(4)])
    _gate_and_publish(population_spec, settings, bad)
    cli.console.width = 80  # a narrow terminal: the reason wraps inside its own row
    result = CliRunner().invoke(cli.app, ["status", "population"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].strip() == "population"
    field = {ln.split("│")[1].strip(): ln for ln in lines if ln.count("│") == 3}
    assert set(field) >= {"last publish", "quality score", "last attempt", "published"}
    assert "100.00%" in field["quality score"]
    assert "blocked" in field["last attempt"]
    assert "business_registry" not in result.output, "only the dataset asked for"
    unknown = CliRunner().invoke(cli.app, ["status", "no_such_dataset"])
    assert unknown.exit_code == 2 and "unknown dataset(s): no_such_dataset" in unknown.output

def test_quality_of_an_empty_run_is_no_rows_without_a_trend(population_spec, settings,
                                                           raw_run_factory):
    _gate_and_publish(population_spec, settings,
                      raw_run_factory(population_spec, [GOOD, person(), person(), person(),
                                                        person(sex="X")]))
    _gate_and_publish(population_spec, settings,
                      raw_run_factory(population_spec, [person(), person(), person()]))
    line = next(ln for ln in _cli(["quality", "--lang", "en"]).splitlines() if "population" in ln)
    assert "100.00%" in line and "+20.00" in line  # a scored run after a scored run
    _gate_and_publish(population_spec, settings, raw_run_factory(population_spec, []))
    line = next(ln for ln in _cli(["quality", "--lang", "en"]).splitlines() if "population" in ln)
    assert "no rows" in line and "%" not in line and "+" not in line


def test_min_rows_of_an_incremental_dataset_counts_the_table_not_the_window(
        population_spec, settings, raw_run_factory):
    spec = population_spec.model_copy(update={
        "quality": population_spec.quality.model_copy(update={"min_rows": 4})})
    gate, _ = _gate_and_publish(spec, settings, raw_run_factory(spec, [GOOD, person()]))
    assert gate.block_reasons == [f"the table would hold at most 2 rows after run "
                                  f"{gate.run_id}, below the minimum 4"]
    gate, first = _gate_and_publish(spec, settings, raw_run_factory(spec, [GOOD] + [
        person() for _ in range(4)]))
    assert not gate.blocked and first.curated_rows_total == 5
    # Two changed rows on a table of five: far fewer than min_rows in the window, fine.
    gate, later = _gate_and_publish(spec, settings, raw_run_factory(spec, [person(), person()]))
    assert not gate.blocked, gate.block_reasons
    assert later.curated_rows_total == 7
