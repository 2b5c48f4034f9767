"""The per-dataset run lock (warehouse/run_lock.py), on the SQLite catalog and on a real
PostgreSQL catalog database: one holder at a time, a clear refusal naming the holder, a
bounded wait, takeover of a dead local process at once and of another host's lease only
once it expired, a lost lease detected before publishing, the Airflow span (acquire, park,
resume, release), and unfinished raw folders of live writers left alone."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lgsp.config import PROJECT_ROOT, Settings
from tests.concurrency import pg_catalog
from warehouse import run_lock
from warehouse.raw_zone import WRITER, RawRunWriter, remove_stale_temporaries
from warehouse.run_lock import DatasetLocked, LockLost, RunLocks


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The catalog database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with pg_catalog() as uri:
        yield uri


@pytest.fixture
def locks(catalog_uri: str) -> Iterator[RunLocks]:
    store = RunLocks(catalog_uri, ttl=3600)
    yield store
    store.close()


def _settings(tmp_path: Path, catalog_uri: str, **kw: float) -> Settings:
    return Settings(home=tmp_path / "home", specs_dir=tmp_path, catalog_uri=catalog_uri, **kw)


def test_a_second_run_is_refused_naming_the_dataset_and_the_holder(locks):
    lease = locks.acquire("population", "lgsp run A", run_id="A")
    with pytest.raises(DatasetLocked) as err:
        locks.acquire("population", "lgsp run B", run_id="B")
    message = str(err.value)
    assert "population" in message and "lgsp run A" in message
    assert f"pid {run_lock.os.getpid()}" in message and run_lock.HOST in message
    # Another dataset is not affected.
    locks.acquire("insurance_members", "lgsp run B").release()
    lease.release()
    locks.acquire("population", "lgsp run B").release()


def test_only_one_of_many_simultaneous_runs_gets_the_lock(locks):
    start = threading.Barrier(6)
    won: list[str] = []
    refused: list[str] = []

    def contender(name: str) -> None:
        start.wait()
        try:
            locks.acquire("land_parcels", name)
            won.append(name)
        except DatasetLocked:
            refused.append(name)

    threads = [threading.Thread(target=contender, args=(f"run {i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 5
    assert locks.holder("land_parcels").owner == won[0]


def test_a_waiting_run_starts_when_the_holder_finishes(locks):
    first = locks.acquire("business_registry", "lgsp run A")
    waiting = threading.Event()

    def finish_when_the_other_waits() -> None:
        waiting.wait(timeout=300)
        first.release()

    releaser = threading.Thread(target=finish_when_the_other_waits)
    releaser.start()
    second = locks.acquire("business_registry", "lgsp run B", wait=300,
                           on_wait=lambda holder: waiting.set())
    releaser.join()
    assert waiting.is_set()
    assert locks.holder("business_registry").owner == "lgsp run B"
    second.release()


def test_the_lock_of_a_killed_local_run_is_taken_over_at_once(locks, catalog_uri):
    """A real process takes the lock (a lease of an hour) and dies without releasing it."""
    code = ("import os, sys; from warehouse.run_lock import RunLocks; "
            "RunLocks(sys.argv[1], ttl=3600).acquire('population', 'lgsp run killed'); "
            "os._exit(9)")
    proc = subprocess.Popen([sys.executable, "-c", code, catalog_uri], cwd=PROJECT_ROOT,
                            stderr=subprocess.PIPE, text=True)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 9, stderr
    holder = locks.holder("population")
    assert holder.owner == "lgsp run killed" and holder.pid == proc.pid
    lease = locks.acquire("population", "lgsp run next")
    assert locks.holder("population").owner == "lgsp run next"
    lease.release()


def test_another_hosts_lease_blocks_until_it_expires(locks, catalog_uri, monkeypatch):
    """Its pid means nothing here: only the lease's expiry (database clock) frees it."""
    monkeypatch.setattr(run_lock, "HOST", "registry-worker-2")
    RunLocks(catalog_uri, ttl=3600).acquire("insurance_members", "airflow on worker 2")
    RunLocks(catalog_uri, ttl=0).acquire("land_parcels", "airflow on worker 2")
    monkeypatch.setattr(run_lock, "HOST", "registry-worker-1")
    with pytest.raises(DatasetLocked, match="airflow on worker 2 on host registry-worker-2"):
        locks.acquire("insurance_members", "lgsp run here")
    # A lease of 0 s expired the moment it was written: taken over.
    lease = locks.acquire("land_parcels", "lgsp run here")
    assert locks.holder("land_parcels").host == "registry-worker-1"
    lease.release()


def test_a_run_whose_lease_was_taken_over_does_not_publish(catalog_uri):
    short = RunLocks(catalog_uri, ttl=0)
    first = short.acquire("population", "lgsp run slow")  # expires at once (never renewed)
    RunLocks(catalog_uri, ttl=3600).acquire("population", "lgsp run next")
    with pytest.raises(LockLost, match="lgsp run next"):
        first.check()


def test_held_renews_and_releases_and_a_second_held_is_refused(tmp_path, catalog_uri):
    settings = _settings(tmp_path, catalog_uri)
    with run_lock.held(settings, "population", "lgsp run A") as lease:
        lease.check()
        with (pytest.raises(DatasetLocked, match="population is already being run by lgsp run A"),
              run_lock.held(settings, "population", "lgsp run B")):
            pass
    locks = RunLocks(catalog_uri)
    assert locks.holder("population").owner is None  # released on exit
    locks.close()


def test_an_airflow_dag_run_holds_the_lock_from_extract_to_its_teardown(tmp_path, catalog_uri):
    settings = _settings(tmp_path, catalog_uri)
    owner = run_lock.airflow_owner("lgsp_population", "manual__2026-11-30")
    locks = RunLocks(catalog_uri)
    with run_lock.task_step(settings, "population", owner, first=True, run_id="r1"):
        pass
    parked = locks.holder("population")
    assert parked.owner == owner and parked.pid is None  # between tasks: no process holds it
    # Between extract and publish, neither `lgsp run` nor another DAG run may start...
    with pytest.raises(DatasetLocked, match="between tasks"):
        locks.acquire("population", "lgsp run B")
    with pytest.raises(DatasetLocked):
        run_lock.task_step(settings, "population", run_lock.airflow_owner(
            "lgsp_population", "manual__other"), first=True).__enter__()
    # ...while the same DAG run's later tasks (and retries) go on.
    with run_lock.task_step(settings, "population", owner, first=False):
        assert locks.holder("population").pid is not None
    with (pytest.raises(RuntimeError, match="boom"),
          run_lock.task_step(settings, "population", owner, first=False)):
        raise RuntimeError("boom")  # a failed try keeps it for the retry
    assert locks.holder("population").owner == owner
    assert run_lock.release(settings, "population", owner)
    assert locks.holder("population").owner is None
    assert not run_lock.release(settings, "population", owner)  # a second teardown: no-op
    # A later task of a DAG run whose lock was taken over must not go on.
    with (pytest.raises(LockLost, match="start a new run"),
          run_lock.task_step(settings, "population", owner, first=False)):
        pass
    locks.close()


def test_a_failed_first_task_frees_the_lock(tmp_path, catalog_uri):
    settings = _settings(tmp_path, catalog_uri)
    owner = run_lock.airflow_owner("lgsp_population", "manual__1")
    with (pytest.raises(ConnectionError),
          run_lock.task_step(settings, "population", owner, first=True)):
        raise ConnectionError("registry down")
    locks = RunLocks(catalog_uri)
    assert locks.holder("population").owner is None
    locks.close()


def _writer(root: Path, run_id: str) -> RawRunWriter:
    return RawRunWriter(root=root, dataset="population", run_id=run_id, source={},
                        window={"since": None, "until": None})


def test_unfinished_raw_folders_of_live_writers_are_not_removed(tmp_path):
    live = _writer(tmp_path, "live")  # written by this (live) process
    _writer(tmp_path, "dead")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (tmp_path / "population" / ".tmp-dead" / WRITER).write_text(
        json.dumps({"host": run_lock.HOST, "pid": proc.pid}), "utf-8")
    old = tmp_path / "population" / ".tmp-older"  # no writer recorded
    old.mkdir()
    removed = remove_stale_temporaries(tmp_path, "population")
    assert sorted(p.name for p in removed) == [".tmp-dead", ".tmp-older"]
    assert (tmp_path / "population" / ".tmp-live").is_dir()
    live.abort()


def test_a_renewed_lease_outlives_its_ttl(catalog_uri):
    """The holder's heartbeat keeps a short lease alive past its TTL; a lease nobody
    renews is taken over. (Sleeps past the TTL; asserts outcomes, not durations.)"""
    import time

    renewed = RunLocks(catalog_uri, ttl=2).acquire("population", "lgsp run A").start_heartbeat()
    RunLocks(catalog_uri, ttl=2).acquire("gaps", "lgsp run A")  # never renewed
    first = RunLocks(catalog_uri).holder("population")
    time.sleep(4)
    locks = RunLocks(catalog_uri)
    assert locks.holder("population").heartbeat_at > first.heartbeat_at
    with pytest.raises(DatasetLocked, match="lgsp run A"):
        locks.acquire("population", "lgsp run B")
    locks.acquire("gaps", "lgsp run B").release()
    renewed.release()
    assert locks.holder("population").owner is None
    locks.close()
