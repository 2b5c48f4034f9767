"""The control database's Alembic history on SQLite and on a real PostgreSQL: upgrading an
empty database yields exactly the models' schema, downgrading removes it, and opening the
database through control.db.engine() migrates it without a shell step."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from control import db
from control.models import Base
from lgsp.config import Settings

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _sqlite(tmp_path) -> Engine:  # type: ignore[no-untyped-def]
    return db.create(f"sqlite:///{tmp_path / 'control.db'}")


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    name = f"lgsp_control_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as con:
            con.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {exc}")
    eng = db.create(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _schema_diff(eng: Engine) -> list[object]:
    with eng.connect() as con:
        return compare_metadata(MigrationContext.configure(con), Base.metadata)


def _check_round_trip(eng: Engine) -> None:
    db.upgrade(eng)
    assert db.current_revision(eng) == db.head_revision()
    tables = set(inspect(eng).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert _schema_diff(eng) == []  # the migrations produce exactly what the models declare
    db.downgrade(eng, "base")
    assert not {t.name for t in Base.metadata.sorted_tables} & set(inspect(eng).get_table_names())
    db.upgrade(eng)
    assert _schema_diff(eng) == []


def test_migrations_round_trip_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _check_round_trip(_sqlite(tmp_path))


def test_migrations_round_trip_on_postgresql(pg_engine: Engine) -> None:
    _check_round_trip(pg_engine)


def test_engine_migrates_a_new_database_on_first_use(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "home", specs_dir=tmp_path)
    eng = db.engine(settings)
    assert (tmp_path / "home" / "control.db").exists()
    assert db.current_revision(eng) == db.head_revision()
    assert "catalog_datasets" in inspect(eng).get_table_names()


def test_control_db_uri_from_environment(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LGSP_HOME", str(tmp_path))
    monkeypatch.delenv("LGSP_CONTROL_DB_URI", raising=False)
    assert Settings.from_env().control_db_uri == f"sqlite:///{tmp_path / 'control.db'}"
    monkeypatch.setenv("LGSP_CONTROL_DB_URI", "postgresql+psycopg://u@h/db")
    assert Settings.from_env().control_db_uri == "postgresql+psycopg://u@h/db"
