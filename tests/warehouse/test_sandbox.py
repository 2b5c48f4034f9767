"""The query sandbox (issue 13 item 7): the published views read; every way out of them
(files, network, writes, attaching, extensions, settings, environment) is refused with a
one-line message, by the statement check and, independently, by the engine's own locks."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lgsp.config import Settings
from warehouse import sandbox
from warehouse.duck import quote_literal as lit


@pytest.fixture
def con(published):
    con = sandbox.sandboxed_connection(Settings.from_env())
    yield con
    con.close()


def _count(con, table: str) -> int:
    return sandbox.run_query(con, f"SELECT count(*) FROM {table}").rows[0][0]


def test_views_read_the_published_tables_and_nothing_else(published, con):
    assert _count(con, "population") == published.rows
    assert _count(con, "population_quarantine") == published.quarantined
    tables = {r[0] for r in sandbox.run_query(con, "SHOW TABLES").rows}
    assert tables == {"population", "population_quarantine"}


ESCAPES = {  # {raw} etc. are quoted literals; {target} is an open literal inside an empty folder
    "read_text": "SELECT * FROM read_text('/etc/shadow')",
    "read_text_passwd": "SELECT content FROM read_text('/etc/passwd')",
    "read_blob": "SELECT * FROM read_blob('/etc/passwd')",
    "read_parquet_raw": "SELECT * FROM read_parquet({raw})",
    "raw_replacement_scan": "SELECT * FROM {raw}",
    "parquet_metadata_raw": "SELECT * FROM parquet_metadata({raw})",
    "read_csv": "SELECT * FROM read_csv({manifest})",
    "read_json": "SELECT * FROM read_json({manifest})",
    "sniff_csv": "SELECT * FROM sniff_csv('/etc/passwd')",
    "glob_home": "SELECT * FROM glob({home_glob})",
    "glob_etc": "SELECT * FROM glob('/etc/*')",
    "network_read": "SELECT * FROM 'http://127.0.0.1:9/x.parquet'",
    "copy_to": "COPY population TO {target}/out.csv'",
    "copy_query_to": "COPY (SELECT 1) TO {target}/o.parquet' (FORMAT parquet)",
    "copy_from": "COPY population FROM {raw}",
    "export": "EXPORT DATABASE {target}/export'",
    "import": "IMPORT DATABASE {target}'",
    "attach_file": "ATTACH {target}/new.duckdb' AS extra",
    "attach_memory": "ATTACH ':memory:' AS scratch",
    "detach": "DETACH lgsp",
    "install": "INSTALL httpfs",
    "install_from": "INSTALL httpfs FROM 'http://127.0.0.1:9/'",
    "load": "LOAD httpfs",
    "load_path": "LOAD {target}/x.duckdb_extension'",
    "set_external": "SET enable_external_access = true",
    "set_threads": "SET threads = 1",
    "reset_lock": "RESET lock_configuration",
    "use": "USE temp",
    "pragma": "PRAGMA enable_profiling",
    "pragma_profile_file": "PRAGMA profiling_output = {target}/p.json'",
    "call": "CALL pragma_database_size()",
    "create_table": "CREATE TABLE t AS SELECT 1 AS x",
    "create_temp": "CREATE TEMP TABLE t AS SELECT 1 AS x",
    "create_view": "CREATE VIEW v AS SELECT 1 AS x",
    "create_macro": "CREATE MACRO m(x) AS x",
    "create_secret": "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "insert": "INSERT INTO population (personal_id) VALUES ('1')",
    "delete": "DELETE FROM population",
    "update": "UPDATE population SET full_name = 'x'",
    "drop": "DROP VIEW population",
    "checkpoint": "CHECKPOINT",
    "vacuum": "VACUUM",
    "begin": "BEGIN TRANSACTION",
    "enable_logging": "SELECT * FROM enable_logging(storage = 'file', storage_path = {target}/l')",
    "enable_profiling": "SELECT * FROM enable_profiling(save_location = {target}/p.json')",
    "stacked": "SELECT 1; COPY population TO {target}/s.csv'",
    "explain_analyze": "EXPLAIN ANALYZE COPY population TO {target}/e.csv'",
}


def _escape_sql(name: str, published, target: Path) -> str:
    raw = published.raw_file
    return ESCAPES[name].format(raw=lit(str(raw)), manifest=lit(str(raw.parent / "_manifest.json")),
                                home_glob=lit(f"{published.home}/**"), target="'" + str(target))


@pytest.mark.parametrize("name", list(ESCAPES))
def test_escape_is_refused_in_one_line(name, published, con, tmp_path):
    sql = _escape_sql(name, published, tmp_path)
    with pytest.raises(sandbox.QueryRefused) as refused:
        sandbox.run_query(con, sql)
    message = str(refused.value)
    assert message and "\n" not in message
    assert "root:" not in message  # no file content leaks into the message
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert _count(con, "population") == published.rows  # the views are intact


def test_environment_is_not_readable(con, monkeypatch):
    monkeypatch.setenv("LGSP_TEST_SECRET", "s3cr3t-value")
    with pytest.raises(sandbox.QueryError) as failed:
        sandbox.run_query(con, "SELECT getenv('LGSP_TEST_SECRET')")
    assert "s3cr3t-value" not in str(failed.value) and "\n" not in str(failed.value)


def test_python_variables_are_not_scanned(con):
    secret_table = pa.table({"x": ["private"]})  # noqa: F841 - DuckDB's replacement scan target
    with pytest.raises(sandbox.QueryError, match="secret_table"):
        sandbox.run_query(con, "SELECT * FROM secret_table")


def test_engine_locks_hold_without_the_statement_check(published, con, tmp_path):
    """A caller that skips `run_query` (say, a future API handler) still cannot get out."""
    read_only, locked = "attached in read-only mode", "configuration has been locked"
    for sql, error, match in [
        ("CREATE TABLE t AS SELECT 1", duckdb.InvalidInputException, read_only),
        ("DROP VIEW population", duckdb.InvalidInputException, read_only),
        ("SET enable_external_access = true", duckdb.InvalidInputException, locked),
        ("SET allowed_directories = ['/']", duckdb.InvalidInputException, locked),
        ("RESET lock_configuration", duckdb.InvalidInputException, locked),
        ("SET autoload_known_extensions = true", duckdb.InvalidInputException, locked),
        (f"COPY population TO {lit(str(tmp_path / 'x.csv'))}", duckdb.PermissionException, None),
        (f"ATTACH {lit(str(tmp_path / 'x.duckdb'))}", duckdb.PermissionException, None),
        ("SELECT * FROM read_text('/etc/passwd')", duckdb.PermissionException, None),
        (f"SELECT * FROM read_parquet({lit(str(published.raw_file))})",
         duckdb.PermissionException, None),
        ("INSTALL httpfs", duckdb.PermissionException, None),
        ("LOAD httpfs", duckdb.PermissionException, None),
    ]:
        with pytest.raises(error, match=match):
            con.execute(sql)
    assert list(tmp_path.iterdir()) == []
    assert con.execute("SELECT count(*) FROM population").fetchone()[0] == published.rows


def test_extension_settings_are_off_and_locked(con):
    """Belt and braces behind the file lock: nothing is autoloaded, autoinstalled or taken
    from the community repository, and the lock keeps it so."""
    values = dict(con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ('autoinstall_known_extensions',"
        " 'autoload_known_extensions', 'allow_community_extensions', 'allow_unsigned_extensions',"
        " 'allow_extension_repositories', 'enable_external_access', 'lock_configuration')"
    ).fetchall())
    assert values == {
        "autoinstall_known_extensions": "false", "autoload_known_extensions": "false",
        "allow_community_extensions": "false", "allow_unsigned_extensions": "false",
        "allow_extension_repositories": "forbidden", "enable_external_access": "false",
        "lock_configuration": "true"}


def test_limit_fetches_one_more_row_and_never_the_whole_result(con):
    huge = sandbox.run_query(con, "SELECT i FROM range(1000000000000) t(i)", limit=5)
    assert (len(huge.rows), huge.truncated) == (5, True)
    exact = sandbox.run_query(con, "SELECT i FROM range(5) t(i)", limit=5)
    assert (len(exact.rows), exact.truncated) == (5, False)
    # The connection is free for the next query after a cut result.
    assert sandbox.run_query(con, "SELECT 42").rows == [(42,)]


def test_a_query_past_its_timeout_is_stopped(con):
    with pytest.raises(sandbox.QueryFailed, match="ran longer than 0.2 s"):
        sandbox.run_query(con, "SELECT count(*) FROM range(1000000000000000)", timeout=0.2)
    assert sandbox.run_query(con, "SELECT 42", timeout=60).rows == [(42,)]


def test_as_of_reads_the_snapshot_in_force_then(published):
    settings = Settings.from_env()
    first = datetime.fromtimestamp(published.first_snapshot_ms / 1000, UTC)
    then = sandbox.query(settings, "SELECT count(*) FROM population", as_of=first)
    assert then.rows == [(published.first_rows,)]
    with pytest.raises(sandbox.QueryFailed, match="no table named population"):
        sandbox.query(settings, "SELECT count(*) FROM population",
                      as_of=first - timedelta(seconds=1))


def test_failures_are_one_line(con):
    for sql in ["SELEC 1", "SELECT nope FROM population", "SELECT * FROM populaton",
                "SELECT 1/0::INTEGER + 'x'", ""]:
        with pytest.raises(sandbox.QueryError) as err:
            sandbox.run_query(con, sql)
        assert str(err.value) and "\n" not in str(err.value), sql


# --- property: statements of the escape forms, with paths drawn at random -----------------

READ_FORMS = ["SELECT * FROM read_text({p})", "SELECT * FROM read_blob({p})",
              "SELECT * FROM read_csv({p})", "SELECT * FROM read_json({p})",
              "SELECT * FROM read_parquet({p})", "SELECT * FROM read_parquet([{p}])",
              "SELECT * FROM parquet_schema({p})", "SELECT * FROM glob({p})",
              "SELECT * FROM {p}", "SELECT count(*) FROM sniff_csv({p})"]
WRITE_FORMS = ["COPY population TO {p}", "COPY (SELECT 1) TO {p} (FORMAT json)",
               "EXPORT DATABASE {p}", "ATTACH {p} AS other", "ATTACH {p} (READ_ONLY)",
               "IMPORT DATABASE {p}", "LOAD {p}", "INSTALL {p}",
               "PRAGMA profiling_output = {p}", "SET temp_directory = {p}",
               "SET allowed_directories = [{p}]", "SET allowed_paths = [{p}]",
               "SET extension_directory = {p}", "CREATE TABLE t AS FROM {p}",
               "INSERT INTO population SELECT * FROM {p}"]
SEGMENT = st.one_of(
    st.sampled_from(["..", ".", "*", "**", "?", "~", "etc", "passwd", "shadow", "raw",
                     "population", "x.parquet", "_manifest.json", "curated", "warehouse"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00/"), min_size=1, max_size=8),
)


@st.composite
def paths(draw, published, target: Path) -> str:
    allowed = sorted(published.allowed)
    base = draw(st.sampled_from([
        str(published.raw_file), str(published.raw_file.parent), str(published.home),
        str(published.home / "warehouse"), str(target), "/etc", "/", "~", ".", "",
        "http://127.0.0.1:9", "s3://bucket", *allowed]))
    rest = draw(st.lists(SEGMENT, max_size=4))
    path = "/".join([base, *rest]) if rest else base
    assume(os.path.normpath(path) not in published.allowed and path not in published.allowed)
    return path


def test_escape_forms_with_random_paths_are_refused(published, con, tmp_path):
    target = tmp_path / "target"
    target.mkdir()

    @hsettings(max_examples=250, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                      HealthCheck.filter_too_much])
    @given(form=st.sampled_from(READ_FORMS + WRITE_FORMS), path=paths(published, target))
    def check(form: str, path: str) -> None:
        sql = form.format(p=lit(path))
        with pytest.raises(sandbox.QueryError) as err:
            sandbox.run_query(con, sql)
        assert "\n" not in str(err.value)
        if form == "SELECT * FROM {p}" and not isinstance(err.value, sandbox.QueryRefused):
            # A quoted name without a file extension is a table name, not a file.
            assert "does not exist" in str(err.value) or "no table named" in str(err.value), sql
        else:
            assert isinstance(err.value, sandbox.QueryRefused), sql
        assert list(target.iterdir()) == []

    check()
    assert con.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False
    assert _count(con, "population") == published.rows


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)),
                                               timezone(timedelta(hours=-3, minutes=-30))])))
def test_parse_timestamp_round_trips_aware_times(when):
    assert sandbox.parse_timestamp(when.isoformat()) == when


def test_parse_timestamp_naive_is_utc_and_nonsense_is_named():
    assert sandbox.parse_timestamp("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(sandbox.QueryError, match="'2026-13-01' is not an ISO 8601"):
        sandbox.parse_timestamp("2026-13-01")
