"""Connections to the control database and its migrations.

`engine(settings)` opens it (SQLite file `LGSP_HOME/control.db` by default,
`LGSP_CONTROL_DB_URI` for PostgreSQL) and brings the schema to the newest Alembic revision
first, through Alembic's API (no shell step): every entry point (`lgsp run`, `lgsp serve`,
an Airflow task) gets a migrated database. Migrations live in `control/migrations`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from lgsp.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(eng: Engine) -> str | None:
    with eng.connect() as con:
        return MigrationContext.configure(con).get_current_revision()


def _sqlite_pragmas(dbapi_con, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_con.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA journal_mode = WAL")  # readers (the served app) never block a writer
    cur.execute("PRAGMA busy_timeout = 10000")
    cur.execute("PRAGMA synchronous = NORMAL")  # WAL: a commit is durable at the checkpoint
    cur.close()


def create(uri: str) -> Engine:
    if uri.startswith("sqlite"):
        path = uri.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(uri)
        event.listen(eng, "connect", _sqlite_pragmas)
        return eng
    return create_engine(uri, pool_pre_ping=True)


def upgrade(eng: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` on this engine's database."""
    cfg = alembic_config()
    with eng.begin() as con:
        cfg.attributes["connection"] = con
        command.upgrade(cfg, revision)


def downgrade(eng: Engine, revision: str) -> None:
    cfg = alembic_config()
    with eng.begin() as con:
        cfg.attributes["connection"] = con
        command.downgrade(cfg, revision)


def engine(settings: Settings) -> Engine:
    """The migrated engine for this settings' control database (one per process and URI)."""
    uri = settings.control_db_uri
    with _lock:
        eng = _engines.get(uri)
        if eng is None:
            eng = create(uri)
            if current_revision(eng) != head_revision():
                upgrade(eng)
            _engines[uri] = eng
        return eng


@contextmanager
def session(settings: Settings) -> Iterator[Session]:
    """A session committed on success, rolled back on error."""
    with sessionmaker(engine(settings), expire_on_commit=False)() as s, s.begin():
        yield s
