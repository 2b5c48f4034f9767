"""The control-plane version: one counter (`api_control_version`, row 1) bumped in the same
transaction as every change to clients, credentials and grants (register, rotate, revoke,
grant, approve, refuse, revoke a grant). Workers cache clients and grants in process
(api/auth_cache.py) and read the counter once per request with one cheap query: a change
committed before a request started is seen by that request, so revocation is immediate.

On SQLite the read uses a plain read-only sqlite3 connection per thread (WAL: it never
waits on a writer, ~10 us); on PostgreSQL a pooled SQLAlchemy connection.
"""

from __future__ import annotations

import sqlite3
import threading

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from api.models import ApiControlVersion
from control import db
from lgsp.config import Settings

_local = threading.local()
_SQL = "SELECT version FROM api_control_version WHERE id = 1"


def bump(session: Session) -> None:
    """Count one control-plane change (in the caller's transaction)."""
    done = session.execute(update(ApiControlVersion).where(ApiControlVersion.id == 1)
                           .values(version=ApiControlVersion.version + 1)).rowcount
    if not done:
        raise RuntimeError("api_control_version row is missing: run the control migrations")


def _sqlite_path(uri: str) -> str | None:
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.split("///", 1)[1]
    return None if not path or path == ":memory:" else path


def current(settings: Settings) -> int:
    """The counter as committed now."""
    uri = settings.control_db_uri
    path = _sqlite_path(uri)
    if path is None:
        with db.engine(settings).connect() as con:
            return int(con.execute(text(_SQL)).scalar_one())
    cons: dict[str, sqlite3.Connection] = getattr(_local, "cons", None) or {}
    _local.cons = cons
    con = cons.get(path)
    if con is None:
        db.engine(settings)  # migrated first
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 10000")
        cons[path] = con
    row = con.execute(_SQL).fetchone()
    if row is None:
        raise RuntimeError("api_control_version row is missing: run the control migrations")
    return int(row[0])
