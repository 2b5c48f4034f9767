"""One run per dataset at a time: a lease row per dataset in the catalog database.

The lock lives in table `lgsp_run_locks` of the Iceberg SQL catalog's database (SQLite by
default, PostgreSQL deployed; `Settings.iceberg_catalog_uri`), so it excludes runs on
different hosts that share a catalog, not only processes on one machine. A row per dataset:

    dataset, version, owner, run_id, host, pid, acquired_at, heartbeat_at, expires_at

`owner` NULL means free. Every change of hands is a compare-and-swap on `version` (one
UPDATE ... WHERE version = seen), atomic on both databases without holding a transaction
open. All times are the database's clock (`CURRENT_TIMESTAMP`), so hosts with skewed
clocks agree on when a lease expired.

A lease is live while its holder renews it: a heartbeat thread moves `expires_at` to now +
TTL every TTL/4. A holder is taken over (stale) when its lease expired (a killed run on
another host blocks at most one TTL), or at once when it is on this host and its process
is gone (`pid` recorded, and `os.kill(pid, 0)` says it ended or it is a zombie). Hosts are
told apart by `socket.gethostname()`. A run that finds the dataset held by a live holder
waits up to `wait` seconds (polling), then raises `DatasetLocked` naming the dataset and the
holder. A holder whose lease was taken over finds out at its next renewal (`LockLost`); the
pipeline renews once more right before it publishes.

Airflow runs a dataset as several tasks (extract -> validate -> publish), possibly in
different processes. The lock spans the whole DAG run, because the window and the file
ledger read at extract are only committed at publish: the extract task acquires it for
the owner `airflow <dag_id> <run_id>`, each task renews it while it runs and, when it ends,
*parks* it (pid cleared, so only expiry frees it between tasks), the next task of the same
DAG run resumes it (or fails if it was lost), and a teardown task releases it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from lgsp.config import Settings

log = logging.getLogger(__name__)

HOST = socket.gethostname()
POLL_SECONDS = 1.0

_metadata = MetaData()
locks_table = Table(
    "lgsp_run_locks", _metadata,
    Column("dataset", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("owner", String(400), nullable=True),
    Column("run_id", String(200), nullable=True),
    Column("host", String(255), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("acquired_at", DateTime, nullable=True),
    Column("heartbeat_at", DateTime, nullable=True),
    Column("expires_at", DateTime, nullable=True),
)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a dataset's lock, as the row says."""

    dataset: str
    version: int
    owner: str | None
    run_id: str | None
    host: str | None
    pid: int | None
    acquired_at: datetime | None
    heartbeat_at: datetime | None
    expires_at: datetime | None

    def describe(self) -> str:
        where = f"on host {self.host}" + (f" (pid {self.pid})" if self.pid else
                                           " (between tasks)")
        since = f"since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC" if self.acquired_at else ""
        until = (f", lease renewed until {self.expires_at:%H:%M:%S} UTC"
                 if self.expires_at else "")
        return f"{self.owner} {where} {since}{until}"

    def stale_reason(self, now: datetime) -> str | None:
        """Why this holder no longer holds the lock, or None while it does (or nobody does)."""
        if self.owner is None:
            return None
        if self.expires_at is None or self.expires_at <= now:
            return "its lease expired"
        if self.pid is not None and self.host == HOST and not pid_alive(self.pid):
            return f"its process {self.pid} on this host has ended"
        return None


class DatasetLocked(RuntimeError):
    """Another live run holds the dataset's lock (after waiting, if asked to)."""

    def __init__(self, dataset: str, holder: Holder, waited: float) -> None:
        self.dataset, self.holder = dataset, holder
        waited_text = f"waited {waited:g} s; " if waited else ""
        super().__init__(
            f"dataset {dataset} is already being run by {holder.describe()}; {waited_text}"
            f"not starting a second run (wait for it: LGSP_RUN_LOCK_WAIT or `lgsp run --wait`)"
        )


class LockLost(RuntimeError):
    """This run's lease was taken over (it expired) or released by someone else."""


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is running (a zombie counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _naive_utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite without a type hint
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _db_now(conn: Connection) -> datetime:
    return _naive_utc(conn.execute(select(func.current_timestamp())).scalar_one())


class RunLocks:
    """The lease table of one catalog database."""

    def __init__(self, uri: str, ttl: float = 120.0) -> None:
        self.ttl = ttl
        args: dict[str, Any] = {"timeout": 30} if uri.startswith("sqlite") else {}
        self.engine: Engine = create_engine(uri, connect_args=args, pool_pre_ping=True)
        self._ensure_table()

    @classmethod
    def for_settings(cls, settings: Settings) -> RunLocks:
        settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.iceberg_catalog_uri, ttl=settings.run_lock_ttl)

    def _ensure_table(self) -> None:
        try:
            _metadata.create_all(self.engine, checkfirst=True)
        except (OperationalError, ProgrammingError, IntegrityError):
            # Another process created it between the check and the CREATE.
            with self.engine.connect() as conn:
                if not self.engine.dialect.has_table(conn, locks_table.name):
                    raise

    def close(self) -> None:
        self.engine.dispose()

    def holder(self, dataset: str) -> Holder | None:
        with self.engine.connect() as conn:
            return self._row(conn, dataset)

    @staticmethod
    def _row(conn: Connection, dataset: str) -> Holder | None:
        row = conn.execute(select(locks_table).where(locks_table.c.dataset == dataset)).first()
        if row is None:
            return None
        values = row._asdict()
        for key in ("acquired_at", "heartbeat_at", "expires_at"):
            if values[key] is not None:
                values[key] = _naive_utc(values[key])
        return Holder(**values)

    def acquire(self, dataset: str, owner: str, run_id: str | None = None, wait: float = 0.0,
                resume: bool = False, on_wait: Callable[[Holder], None] | None = None) -> Lease:
        """Take the dataset's lock for `owner`, waiting up to `wait` seconds for a live holder.

        The same owner re-enters its own lease (a retried Airflow task). `resume=True` only
        continues a lease this owner already holds, and raises `LockLost` otherwise."""
        started = time.monotonic()
        told = False
        while True:
            with self.engine.begin() as conn:
                now = _db_now(conn)
                holder = self._row(conn, dataset)
                if holder is None and not resume:
                    values = self._mine(owner, run_id, now)
            if holder is None:
                if resume:
                    raise LockLost(f"dataset {dataset}: {owner} no longer holds the run lock "
                                   f"(nobody does); start a new run")
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(locks_table).values(dataset=dataset, version=1,
                                                                **values))
                except IntegrityError:
                    continue  # another run inserted it first: look again
                return Lease(self, dataset, owner, 1)
            ours = holder.owner == owner
            if resume and not ours:
                who = holder.describe() if holder.owner else "nobody (it was released)"
                raise LockLost(f"dataset {dataset}: {owner} lost the run lock; it is now held "
                               f"by {who}. This run's extract is stale; start a new run")
            stale = holder.stale_reason(now)
            if holder.owner is not None and not ours and stale is None:
                waited = time.monotonic() - started
                if waited >= wait:
                    raise DatasetLocked(dataset, holder, wait)
                if on_wait and not told:
                    on_wait(holder)
                    told = True
                time.sleep(min(POLL_SECONDS, wait - waited))
                continue
            with self.engine.begin() as conn:
                values = self._mine(owner, run_id, _db_now(conn))
                if ours:
                    values["acquired_at"] = holder.acquired_at
                result = conn.execute(
                    update(locks_table)
                    .where(locks_table.c.dataset == dataset,
                           locks_table.c.version == holder.version)
                    .values(version=holder.version + 1, **values))
            if result.rowcount == 1:
                if stale and not ours:
                    log.warning("dataset %s: took over the run lock of %s: %s",
                                dataset, holder.describe(), stale)
                return Lease(self, dataset, owner, holder.version + 1)
            # lost a race with another run: look again

    def _mine(self, owner: str, run_id: str | None, now: datetime) -> dict[str, Any]:
        return {"owner": owner, "run_id": run_id, "host": HOST, "pid": os.getpid(),
                "acquired_at": now, "heartbeat_at": now,
                "expires_at": now + timedelta(seconds=self.ttl)}

    def release(self, dataset: str, owner: str) -> bool:
        """Free the dataset's lock if `owner` holds it (a no-op otherwise)."""
        with self.engine.begin() as conn:
            holder = self._row(conn, dataset)
            if holder is None or holder.owner != owner:
                return False
            return _free(conn, dataset, holder.version)


def _free(conn: Connection, dataset: str, version: int) -> bool:
    result = conn.execute(
        update(locks_table)
        .where(locks_table.c.dataset == dataset, locks_table.c.version == version)
        .values(version=version + 1, owner=None, run_id=None, host=None, pid=None,
                expires_at=None))
    return result.rowcount == 1


class Lease:
    """A held lock: renewed by a heartbeat thread until released or parked."""

    def __init__(self, locks: RunLocks, dataset: str, owner: str, version: int) -> None:
        self.locks, self.dataset, self.owner, self.version = locks, dataset, owner, version
        self._stop = threading.Event()
        self._lost: str | None = None
        self._thread: threading.Thread | None = None

    def start_heartbeat(self) -> Lease:
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"run-lock-{self.dataset}")
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(max(0.5, self.locks.ttl / 4)):
            try:
                if not self._renew():
                    return
            except SQLAlchemyError as exc:  # a blip: try again; expiry is the backstop
                log.warning("dataset %s: could not renew the run lock: %s", self.dataset, exc)

    def _renew(self, pid: int | None = None, park: bool = False) -> bool:
        with self.locks.engine.begin() as conn:
            now = _db_now(conn)
            result = conn.execute(
                update(locks_table)
                .where(locks_table.c.dataset == self.dataset,
                       locks_table.c.version == self.version,
                       locks_table.c.owner == self.owner)
                .values(heartbeat_at=now, expires_at=now + timedelta(seconds=self.locks.ttl),
                        **({"pid": None} if park else {})))
            if result.rowcount == 1:
                return True
            holder = self.locks._row(conn, self.dataset)
        who = holder.describe() if holder and holder.owner else "nobody"
        self._lost = (f"dataset {self.dataset}: the run lock of {self.owner} was taken over "
                      f"(now held by {who})")
        log.error("%s", self._lost)
        return False

    def check(self) -> None:
        """Renew now; raise `LockLost` if the lease is no longer this run's."""
        if self._lost or not self._renew():
            raise LockLost(f"{self._lost}; not publishing")

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def release(self) -> None:
        self._stop_heartbeat()
        with self.locks.engine.begin() as conn:
            _free(conn, self.dataset, self.version)

    def park(self) -> None:
        """Keep the lease for the next task of the same owner: no process holds it now, so
        only expiry (TTL from now) frees it if that task never comes."""
        self._stop_heartbeat()
        self._renew(park=True)


def _locks(settings: Settings) -> RunLocks:
    return RunLocks.for_settings(settings)


def _announce(holder: Holder) -> None:
    log.warning("waiting for the run lock of %s, held by %s", holder.dataset, holder.describe())


@contextmanager
def held(settings: Settings, dataset: str, owner: str, run_id: str | None = None,
         wait: float | None = None) -> Iterator[Lease]:
    """Hold the dataset's lock for one whole run in this process; released on exit."""
    locks = _locks(settings)
    try:
        lease = locks.acquire(dataset, owner, run_id=run_id,
                              wait=settings.run_lock_wait if wait is None else wait,
                              on_wait=_announce).start_heartbeat()
        try:
            yield lease
        finally:
            lease.release()
    finally:
        locks.close()


def airflow_owner(dag_id: str, run_id: str) -> str:
    return f"airflow {dag_id} {run_id}"


@contextmanager
def task_step(settings: Settings, dataset: str, owner: str, first: bool,
              run_id: str | None = None) -> Iterator[Lease]:
    """One task of a lock spanning several (an Airflow DAG run): the first acquires (or
    re-enters) it, later ones resume it (`LockLost` if it was taken over); each renews it
    while running and parks it when it ends, for the next task (or its retry) and the
    releasing teardown. A first task that fails releases it: nothing is left to resume."""
    locks = _locks(settings)
    try:
        lease = locks.acquire(dataset, owner, run_id=run_id, wait=settings.run_lock_wait,
                              resume=not first, on_wait=_announce).start_heartbeat()
        try:
            yield lease
        except BaseException:
            if first:
                lease.release()
            else:
                lease.park()
            raise
        lease.park()
    finally:
        locks.close()


def release(settings: Settings, dataset: str, owner: str) -> bool:
    """Free the dataset's lock if `owner` holds it (the Airflow teardown)."""
    locks = _locks(settings)
    try:
        return locks.release(dataset, owner)
    finally:
        locks.close()
