"""The cadastral database the land connector reads: PostgreSQL (the default, as provincial land
offices run it) or MariaDB, created, loaded, changed over time and dropped by this module.

Tables: `parcels` and `certificates` (columns of registries.land.generator, `updated_at`
set by every change, indexed with the key for keyset paging), and `deleted_records`
(table_name, record_key, deleted_at): the tombstones the registry writes when it deletes a
record, which is how the connector sees deletes without a full compare.
Timestamps are UTC (timestamptz in PostgreSQL, DATETIME(6) holding UTC in MariaDB).
Deletes are hard deletes plus a tombstone row (not a soft-delete column), so the tables hold
only live records and a reader that ignores tombstones still sees correct current data.

The server is a SQLAlchemy-style URL (postgresql://user:password@host:port or
mysql+pymysql://user:password@host:port; a database in the URL is ignored), by default the
local PostgreSQL or MariaDB server; the database name is given separately. PostgreSQL is
loaded with COPY, then VACUUM (FREEZE, ANALYZE) so every later reader finds the table settled
(hint bits set); MariaDB with multi-row INSERTs (pymysql executemany), then ANALYZE TABLE.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import pymysql
from sqlalchemy.engine import URL, make_url

from registries.admin_units import communes
from registries.land.generator import (
    CERTIFICATE_COLUMNS,
    PARCEL_COLUMNS,
    PROVINCE,
    LandData,
    parcel_id,
)

LOCAL_SERVERS = {"postgresql": "postgresql://postgres@127.0.0.1:5432",
                 "mariadb": "mysql+pymysql://root@127.0.0.1:3306"}
"""The servers used when no URL is given (the local test servers)."""

_PG_DDL = """
CREATE TABLE parcels (
    parcel_id varchar(40) PRIMARY KEY, commune_code varchar(8), commune_code_era varchar(4),
    legacy_commune_code varchar(8), map_sheet integer, parcel_number integer,
    area_m2 numeric(14, 1), land_use_code varchar(8), land_use_code_list varchar(4),
    address text, updated_at timestamptz NOT NULL);
CREATE INDEX parcels_changes ON parcels (updated_at, parcel_id);
CREATE TABLE certificates (
    certificate_serial varchar(16) PRIMARY KEY, parcel_id varchar(40), issue_date date,
    holder_type varchar(12), holder_id varchar(20), holder_name text,
    updated_at timestamptz NOT NULL);
CREATE INDEX certificates_changes ON certificates (updated_at, certificate_serial);
CREATE TABLE deleted_records (
    table_name varchar(40) NOT NULL, record_key varchar(64) NOT NULL,
    deleted_at timestamptz NOT NULL, PRIMARY KEY (table_name, deleted_at, record_key));
"""
_MARIADB_DDL = (_PG_DDL.replace("timestamptz", "DATETIME(6)").replace(" text", " varchar(255)"))


@dataclass
class Changes:
    updated_parcels: list[str] = field(default_factory=list)
    transferred_certificates: list[str] = field(default_factory=list)
    new_certificates: list[str] = field(default_factory=list)
    deleted_certificates: list[str] = field(default_factory=list)
    deleted_parcels: list[str] = field(default_factory=list)


class LandDatabase:
    """One cadastral database on the local PostgreSQL or MariaDB server."""

    def __init__(self, name: str, kind: str = "postgresql", server: str | URL | None = None) -> None:
        url = make_url(server or LOCAL_SERVERS.get(kind, ""))
        backend = url.get_backend_name()
        if backend not in ("postgresql", "mysql", "mariadb"):
            raise ValueError(f"unsupported database server {url.render_as_string()!r} "
                             "(postgresql:// or mysql+pymysql://)")
        self.name = name
        self.kind = "postgresql" if backend == "postgresql" else "mariadb"
        self.server = url.set(database=None)

    @property
    def dsn(self) -> str:
        """SQLAlchemy-style URL of the database (what the land specs read)."""
        return self.server.set(database=self.name).render_as_string(hide_password=False)

    def _params(self, database: str | None) -> dict[str, Any]:
        u = self.server
        if self.kind == "postgresql":
            return {"host": u.host or "127.0.0.1", "port": u.port or 5432,
                    "user": u.username or "postgres", "password": u.password,
                    "dbname": database or "postgres"}
        return {"host": u.host or "127.0.0.1", "port": u.port or 3306, "user": u.username or "root",
                "password": u.password or "", "database": database or None, "charset": "utf8mb4"}

    @contextmanager
    def connect(self, database: str | None = None, autocommit: bool = False) -> Iterator[Any]:
        """A connection to this database ("" = the server)."""
        params = self._params(self.name if database is None else database)
        if self.kind == "postgresql":
            con = psycopg.connect(autocommit=autocommit, **params)
        else:
            con = pymysql.connect(autocommit=autocommit, **params)
        try:
            yield con
            if not autocommit:
                con.commit()
        finally:
            con.close()

    def create(self) -> None:
        if self.kind == "postgresql":
            with self.connect(database="", autocommit=True) as con:
                con.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                con.execute(f'CREATE DATABASE "{self.name}" ENCODING \'UTF8\' TEMPLATE template0')
            with self.connect() as con:
                con.execute(_PG_DDL)
        else:
            with self.connect(database="") as con, con.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
                cur.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 "
                            "COLLATE utf8mb4_bin")
            with self.connect() as con, con.cursor() as cur:
                for statement in filter(str.strip, _MARIADB_DDL.split(";")):
                    cur.execute(statement)

    def drop(self) -> None:
        if self.kind == "postgresql":
            with self.connect(database="", autocommit=True) as con:
                con.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            with self.connect(database="") as con, con.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")

    def _insert(self, con: Any, table: str, columns: Sequence[str],
                rows: Sequence[dict[str, object]]) -> None:
        if self.kind == "postgresql":
            with con.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row.get(c) for c in columns))
            return
        marks = ", ".join(["%s"] * len(columns))
        with con.cursor() as cur:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for start in range(0, len(rows), 5000):
                cur.executemany(sql, [tuple(_mariadb_value(row.get(c)) for c in columns)
                                      for row in rows[start:start + 5000]])

    def load(self, data: LandData) -> None:
        """Create the database and load the generated registry into it."""
        self.create()
        with self.connect() as con:
            self._insert(con, "parcels", PARCEL_COLUMNS, data.parcels)
            self._insert(con, "certificates", CERTIFICATE_COLUMNS, data.certificates)
        if self.kind == "postgresql":
            with self.connect(autocommit=True) as con:
                con.execute("VACUUM (FREEZE, ANALYZE) parcels, certificates")
        else:
            self.execute("ANALYZE TABLE parcels, certificates")

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self.connect() as con, con.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall()) if cur.description else []

    def count(self, table: str) -> int:
        return int(self.execute(f"SELECT count(*) FROM {table}")[0][0])

    def advance(self, at: datetime, seed: int, updates: int = 0, transfers: int = 0,
                new: int = 0, deletes: int = 0) -> Changes:
        """One period of registry work at time `at`: land-use changes, transfers of
        certificates to another holder, new certificates on new parcels, and deletions
        (certificates revoked, parcels merged away) recorded as tombstones."""
        rng = random.Random(f"land-advance:{seed}:{at.isoformat()}")
        changes = Changes()
        stamp: object = at if self.kind == "postgresql" else _mariadb_value(at)
        with self.connect() as con, con.cursor() as cur:
            cur.execute("SELECT parcel_id FROM parcels ORDER BY parcel_id")
            parcels = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT certificate_serial, parcel_id, holder_type, holder_id, holder_name "
                        "FROM certificates ORDER BY certificate_serial")
            certs = cur.fetchall()
            chosen = rng.sample(parcels, min(updates + deletes, len(parcels)))
            for pid in chosen[:updates]:
                cur.execute("UPDATE parcels SET land_use_code = %s, land_use_code_list = '2024', "
                            "updated_at = %s WHERE parcel_id = %s", ("ODT", stamp, pid))
                changes.updated_parcels.append(pid)
            people = [c for c in certs if c[2] == "person"]
            for serial, _pid, _type, _holder, _name in rng.sample(certs, min(transfers, len(certs))):
                _s, _p, _t, holder, name = rng.choice(people)
                cur.execute("UPDATE certificates SET holder_type = 'person', holder_id = %s, "
                            "holder_name = %s, updated_at = %s WHERE certificate_serial = %s",
                            (holder, name, stamp, serial))
                changes.transferred_certificates.append(serial)
            doomed = [c for c in certs if c[0] not in changes.transferred_certificates]
            for serial, *_ in rng.sample(doomed, min(deletes // 2, len(doomed))):
                cur.execute("DELETE FROM certificates WHERE certificate_serial = %s", (serial,))
                self._tombstone(cur, "certificates", serial, stamp)
                changes.deleted_certificates.append(serial)
            for pid in [p for p in chosen[updates:]][: deletes - deletes // 2]:
                cur.execute("SELECT certificate_serial FROM certificates WHERE parcel_id = %s", (pid,))
                for (serial,) in cur.fetchall():
                    cur.execute("DELETE FROM certificates WHERE certificate_serial = %s", (serial,))
                    self._tombstone(cur, "certificates", serial, stamp)
                    changes.deleted_certificates.append(serial)
                cur.execute("DELETE FROM parcels WHERE parcel_id = %s", (pid,))
                self._tombstone(cur, "parcels", pid, stamp)
                changes.deleted_parcels.append(pid)
            new_communes = communes("2025", [PROVINCE])
            for i in range(new):
                holder = rng.choice(people)
                code, commune_name, _ = rng.choice(new_communes)
                number = 900_000 + rng.randrange(99_999) * 10 + i % 10
                new_pid = parcel_id(code, 90, number)
                cur.execute(
                    "INSERT INTO parcels (parcel_id, commune_code, commune_code_era, map_sheet, "
                    "parcel_number, area_m2, land_use_code, land_use_code_list, address, updated_at) "
                    "VALUES (%s, %s, '2025', 90, %s, %s, 'ONT', '2024', %s, %s)",
                    (new_pid, code, number, 150.0, f"Tờ 90, thửa {number}, {commune_name}", stamp))
                serial = f"DA{rng.randrange(10**8):08d}"
                cur.execute(
                    "INSERT INTO certificates (certificate_serial, parcel_id, issue_date, holder_type, "
                    "holder_id, holder_name, updated_at) VALUES (%s, %s, %s, 'person', %s, %s, %s)",
                    (serial, new_pid, at.date(), holder[3], holder[4], stamp))
                changes.new_certificates.append(serial)
        return changes

    @staticmethod
    def _tombstone(cur: Any, table: str, key: str, stamp: object) -> None:
        cur.execute("INSERT INTO deleted_records (table_name, record_key, deleted_at) "
                    "VALUES (%s, %s, %s)", (table, key, stamp))


def _mariadb_value(value: object) -> object:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
