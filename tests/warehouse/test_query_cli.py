"""`lgsp query` and `lgsp quality` as a user runs them (Typer's CliRunner on the real app,
over a real published table): values printed as text, CSV and JSON, --as-of, the row cap
announced, refusals and errors on one line with exit code 1."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from lgsp.cli import app
from tests.warehouse.conftest import BAD_NAME, ESCAPE, MARKUP


@pytest.fixture
def lgsp(published):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), env={"LGSP_HOME": str(published.home)})
    return invoke


def _one_line_error(result, prefix: str) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    return lines[0]


def test_values_are_printed_as_text_not_markup(lgsp):
    result = lgsp("query", "SELECT residence_address FROM population ORDER BY 1")
    assert result.exit_code == 0, result.output
    assert MARKUP in result.stdout  # "[bold]", "[red]" and ":x:" kept as typed
    assert "❌" not in result.stdout
    # Control characters are shown escaped, never sent to the terminal.
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "Ấp 4 \\x1b[31mred\\x1b[0m \\u202eevil" in result.stdout
    quarantine = lgsp("query", "SELECT full_name FROM population_quarantine")
    assert BAD_NAME in quarantine.stdout


def test_markup_in_column_names_is_text(lgsp):
    result = lgsp("query", 'SELECT 1 AS "[bold]n[/bold] :x:"')
    assert "[bold]n[/bold] :x:" in result.stdout


def test_csv_carries_the_exact_values(lgsp, published):
    result = lgsp("query", "--format", "csv",
                  "SELECT personal_id, residence_address FROM population ORDER BY personal_id")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["personal_id", "residence_address"]
    assert len(rows) == 1 + published.rows
    assert {r[1] for r in rows[1:]} >= {MARKUP, ESCAPE}
    assert result.stderr == ""  # nothing cut, nothing announced


def test_json_is_an_array_of_objects(lgsp, published):
    result = lgsp("query", "--format", "json",
                  "SELECT personal_id, residence_address, 1.50::DECIMAL(4, 2) AS d, NULL AS n "
                  "FROM population")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == published.rows
    assert set(records[0]) == {"personal_id", "residence_address", "d", "n"}
    assert {r["residence_address"] for r in records} >= {MARKUP, ESCAPE}
    assert (records[0]["d"], records[0]["n"]) == ("1.50", None)


def test_row_cap_is_announced_only_when_it_cuts(lgsp, published):
    cut = lgsp("query", "--limit", "3", "--format", "csv", "SELECT * FROM population")
    assert cut.exit_code == 0
    assert len(cut.stdout.strip().splitlines()) == 1 + 3
    assert "showing the first 3 rows" in cut.stderr
    whole = lgsp("query", "--limit", str(published.rows), "--format", "csv",
                 "SELECT * FROM population")
    assert len(whole.stdout.strip().splitlines()) == 1 + published.rows
    assert "showing" not in whole.stderr
    default = lgsp("query", "SELECT * FROM range(250)")
    assert default.stdout.count("\n│") == 200 and "showing the first 200 rows" in default.stderr


def test_as_of_reads_the_earlier_snapshot(lgsp, published):
    first = datetime.fromtimestamp(published.first_snapshot_ms / 1000, UTC)
    then = lgsp("query", "--format", "csv", "--as-of", first.isoformat(),
                "SELECT count(*) AS n FROM population")
    assert then.exit_code == 0, then.output
    assert then.stdout.splitlines() == ["n", str(published.first_rows)]
    now = lgsp("query", "--format", "csv", "SELECT count(*) AS n FROM population")
    assert now.stdout.splitlines() == ["n", str(published.rows)]
    before = lgsp("query", "--as-of", (first - timedelta(seconds=1)).isoformat(),
                  "SELECT count(*) FROM population")
    assert "no table named population" in _one_line_error(before, "error: ")


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_text('/etc/shadow')",
    "COPY population TO '/tmp/lgsp-query-escape.csv'",
    "ATTACH '/tmp/lgsp-query-escape.duckdb' AS x",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "DROP VIEW population",
])
def test_escapes_are_refused_on_one_line(lgsp, sql):
    _one_line_error(lgsp("query", sql), "refused: ")


def test_reading_the_raw_zone_is_refused(lgsp, published):
    line = _one_line_error(lgsp("query", f"SELECT * FROM read_parquet('{published.raw_file}')"),
                           "refused: ")
    assert "cannot access files" in line


@pytest.mark.parametrize(("args", "needle"), [
    (["SELEC 1"], "syntax error"),
    (["SELECT * FROM populaton"], "the tables are: population, population_quarantine"),
    (["--as-of", "yesterday", "SELECT 1"], "'yesterday' is not an ISO 8601 timestamp"),
    (["--format", "xml", "SELECT 1"], "--format must be table, csv or json"),
])
def test_errors_are_one_line(lgsp, args, needle):
    assert needle in _one_line_error(lgsp("query", *args), "error: ")


def test_quality_keeps_severity_labels(lgsp):
    result = lgsp("quality", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "vietnamese_name:full_name [quarantine] 1" in result.stdout
