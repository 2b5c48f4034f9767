"""The query sandbox: what a person may run against the published tables (`lgsp query`
today, the agency API later).

A sandboxed connection sees one view per curated table and per quarantine table (at a
snapshot: now or `as_of`) and nothing else. Two independent locks:

- the engine: the views live in a database attached read-only (the default in-memory
  database is detached); file and network access is off except for exactly the snapshot's
  Parquet files (`allowed_paths`); extensions are never installed, loaded or autoloaded; the
  configuration is locked, so none of this can be switched back;
- the statement: `run_query` runs one statement, and only if DuckDB's own parser calls it a
  SELECT (which covers FROM-first queries, VALUES, DESCRIBE, SHOW and SUMMARIZE).

Every refusal and failure is a `QueryError` with a one-line message.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from lgsp.config import Settings
from warehouse import duck
from warehouse.query import create_views, snapshot_views

CATALOG = "lgsp"
"""Name of the read-only database holding the views (the connection's default)."""

_LOCKDOWN = (
    # Extensions: parquet, json and icu are built in; nothing else is ever fetched or loaded.
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET allow_unsigned_extensions = false",
    "SET allow_extension_repositories = 'forbidden'",
    "SET allow_persistent_secrets = false",
)

_KINDS = {"LOAD": "INSTALL and LOAD", "SET": "SET, RESET and USE", "PRAGMA": "PRAGMA and IMPORT",
          "MULTI": "multi-step"}
"""How a refused statement type is named in the message (DuckDB's name otherwise)."""


class QueryError(Exception):
    """A query that was refused or failed; the message is one line, fit to show the user
    (line breaks and other control characters, say from a quoted path, are escaped)."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message, keep=""))


class QueryRefused(QueryError):
    """The statement reaches outside the published tables (files, settings, writes...)."""


class QueryFailed(QueryError):
    """DuckDB could not run an allowed statement (syntax, unknown table or column...)."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    """True when the query has more rows than the limit (only limit + 1 were fetched)."""


def sandboxed_connection(settings: Settings, as_of: datetime | None = None
                         ) -> duckdb.DuckDBPyConnection:
    """A locked-down connection whose default database holds the curated and quarantine
    views of the snapshot current now (or at `as_of`). Run user SQL through `run_query`."""
    return locked_connection(settings, snapshot_views(settings, as_of))


def locked_connection(settings: Settings, views: dict[str, list[str]], **connect: Any
                      ) -> duckdb.DuckDBPyConnection:
    """A locked-down connection whose default (read-only) database holds exactly `views`
    (view name -> Parquet files) and can read only those files (also used by the agency
    API, api/data.py, before it runs SQL derived from a request); `connect` goes to
    warehouse.duck.connect (memory limit, threads)."""
    con = duck.connect(**connect)
    try:
        for statement in _LOCKDOWN:
            con.execute(statement)
        folder = Path(tempfile.mkdtemp(prefix="views-", dir=settings.duckdb_temp_dir))
        try:
            path = duck.quote_literal(str(folder / "views.duckdb"))
            con.execute(f"ATTACH {path} AS {CATALOG}")
            create_views(con, views, catalog=CATALOG)
            con.execute(f"DETACH {CATALOG}")
            con.execute(f"ATTACH {path} AS {CATALOG} (READ_ONLY)")
            con.execute(f"USE {CATALOG}")
            con.execute("DETACH memory")
        finally:
            shutil.rmtree(folder)  # the attached file stays readable until the connection closes
        files = sorted({f for paths in views.values() for f in paths})
        con.execute(f"SET allowed_paths = [{', '.join(duck.quote_literal(f) for f in files)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def run_query(con: duckdb.DuckDBPyConnection, sql: str, limit: int = 200,
              timeout: float | None = None) -> QueryResult:
    """Check `sql` is a single SELECT and run it on a sandboxed connection, fetching at most
    `limit` rows (and one more, to tell whether the result was cut); a query still running
    after `timeout` seconds is interrupted."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryFailed(one_line(err)) from None
    if not statements:
        raise QueryRefused("the query is empty")
    if len(statements) > 1:
        raise QueryRefused(f"one statement per query, found {len(statements)}")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        kind = _KINDS.get(statement.type.name, statement.type.name.replace("_", " "))
        hint = "; a PIVOT needs its values listed: ON col IN (...)" if kind == "multi-step" else ""
        raise QueryRefused(f"{kind} statements are not allowed: the query shell runs read-only "
                           f"SELECT queries over the published tables{hint}")
    timer = threading.Timer(timeout, con.interrupt) if timeout else None
    if timer:
        timer.start()
    try:
        cursor = con.execute(statement)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchmany(limit + 1)
    except duckdb.PermissionException as err:
        raise QueryRefused(_permission_message(err)) from None
    except duckdb.InterruptException:
        raise QueryFailed(f"the query ran longer than {timeout:g} s and was stopped") from None
    except duckdb.Error as err:
        if "configuration has been locked" in str(err):  # e.g. SELECT * FROM enable_logging()
            raise QueryRefused("settings cannot be changed in the query shell") from None
        raise QueryFailed(_failure_message(con, err)) from None
    finally:
        if timer:
            timer.cancel()
        con.abort()  # drop the rest of a streaming result
    return QueryResult(columns, rows[:limit], truncated=len(rows) > limit)


def query(settings: Settings, sql: str, as_of: datetime | None = None,
          limit: int = 200, timeout: float | None = None) -> QueryResult:
    """One query on a fresh sandboxed connection."""
    con = sandboxed_connection(settings, as_of)
    try:
        return run_query(con, sql, limit, timeout)
    finally:
        con.close()


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 date or timestamp; one without an offset is taken as UTC."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"{text!r} is not an ISO 8601 timestamp "
                         "(e.g. 2026-11-01 or 2026-11-01T08:00:00+07:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_CONTROL = "\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
"""C0 and C1 controls, and the bidi marks and overrides that reorder what a terminal shows."""


def printable(text: str, keep: str = "\t\n") -> str:
    """`text` with the control characters a terminal would act on (except `keep`) written as
    Python escapes, e.g. ESC as `\\x1b`."""
    unsafe = re.compile(f"[{_CONTROL}]")
    return unsafe.sub(lambda m: m.group() if m.group() in keep
                      else m.group().encode("unicode_escape").decode("ascii"), text)


def one_line(err: Exception) -> str:
    """DuckDB's message without the echoed query and caret lines, on one line."""
    lines: list[str] = []
    for line in str(err).splitlines():
        if not line.strip():
            if lines:
                break  # what follows a blank line is advice or the query echo
            continue
        if re.match(r"\s*LINE \d+:", line):
            break
        lines.append(line.strip())
    return " ".join(lines) or type(err).__name__


def _permission_message(err: duckdb.PermissionException) -> str:
    text = str(err)
    if "xtension" in text:
        return "extensions cannot be installed or loaded in the query shell"
    found = re.search(r'Cannot access (?:file|directory) "([^"]*)"', text)
    target = f" ({found.group(1)})" if found else ""
    return (f"the query shell cannot access files or the network{target}; "
            "query the published tables by name")


def _failure_message(con: duckdb.DuckDBPyConnection, err: duckdb.Error) -> str:
    """An unknown table is named with the tables there are (DuckDB's own suggestion may be a
    system view); any other failure is DuckDB's message on one line."""
    missing = re.search(r"Table with name (.+?) does not exist", str(err))
    if not isinstance(err, duckdb.CatalogException) or not missing:
        return one_line(err)
    names = [r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]
    return (f"no table named {missing.group(1)}; the tables are: "
            f"{', '.join(names) if names else 'none (nothing was published by then)'}")
