"""The audit journal (api/audit_journal.py) on a real control database and real files: an
entry is in its worker's journal when `write` returns and is chained exactly once when
sealed, whoever seals it; lines edited, removed, replayed or cut short before sealing are
chained as damaged entries that `audit.verify` names; journals of dead writers are sealed
and removed, those of live writers kept; a journal past its size limit is rotated without
losing a line; nothing personal is written in clear. A property test drives the reader
with arbitrary damage."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select, text

from api import audit, audit_journal
from api.models import ApiAuditEntry, ApiAuditJournal
from control import db
from lgsp.config import Settings

PID = "001089012345"
PROJECT = Path(__file__).resolve().parents[2]
SEAL_ONE = ("import sys; from pathlib import Path; from lgsp.config import Settings; "
            "from api import audit_journal; audit_journal.seal(Settings.from_env(), Path(sys.argv[1]))")


def _entry(i: int) -> dict[str, object]:
    return {"actor": "cl_hospital", "action": "lookup", "purpose": "treatment", "dataset": "population",
            "query": f"key={i}", "snapshot_id": 7, "row_count": 1, "response_sha256": f"{i:064x}",
            "personal_ids": [PID]}


def _chain(settings: Settings) -> list[ApiAuditEntry]:
    with db.session(settings) as s:
        return list(s.scalars(select(ApiAuditEntry).order_by(ApiAuditEntry.seq)))


def _own_journal(settings: Settings, n: int) -> audit_journal.Journal:
    """A journal not registered with this process's sealer thread (the test seals it)."""
    db.engine(settings)
    j = audit_journal.Journal(settings)
    for i in range(n):
        j.write(audit.journal_fields(settings, **_entry(i)))  # type: ignore[arg-type]
    return j


def test_written_before_return_then_chained_once(settings: Settings) -> None:
    db.engine(settings)
    for i in range(5):
        audit_journal.write(settings, **_entry(i))  # type: ignore[arg-type]
    journal = audit_journal._journals[audit_journal.journal_dir(settings)]
    lines = journal.path.read_bytes().splitlines()
    assert len(lines) == 5  # durable (in the file) as soon as write returned
    assert all(PID.encode() not in line for line in lines)  # keyed hashes only
    audit_journal.seal_own(settings)
    audit_journal.seal_all(settings)
    audit_journal.seal_own(settings)  # again: nothing is chained twice
    chain = _chain(settings)
    assert [e.query for e in chain] == [f"key={i}" for i in range(5)]
    assert chain[0].subjects == [audit.subject_hash(settings, PID)]
    with db.session(settings) as s:
        assert audit.verify(s, settings) == []
        assert [a.purpose for a in audit.who_accessed(s, settings, PID)] == ["treatment"] * 5
        mark = s.get(ApiAuditJournal, journal.name)
        assert mark is not None and (mark.sealed_bytes, mark.sealed_lines) == (journal.size, 5)
    assert journal.path.exists()  # its writer (this process) lives: kept


def test_concurrent_sealers_chain_each_line_once(settings: Settings) -> None:
    j = _own_journal(settings, 300)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: audit_journal.seal(settings, j.path), range(4)))
    # and from other processes too (the chain's flock and the sealed mark in the database)
    for i in range(300, 400):
        j.write(audit.journal_fields(settings, **_entry(i)))  # type: ignore[arg-type]
    procs = [subprocess.Popen([sys.executable, "-c", SEAL_ONE, str(j.path)], cwd=PROJECT,
                              env={**os.environ, "LGSP_HOME": str(settings.home)}) for _ in range(3)]
    audit_journal.seal(settings, j.path)
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert [e.query for e in _chain(settings)] == [f"key={i}" for i in range(400)]
    with db.session(settings) as s:
        assert audit.verify(s, settings) == []


def _tamper(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(change(lines)))


@pytest.mark.parametrize(("change", "problems", "queries"), [
    (lambda ls: [ls[0], ls[1].replace(b"treatment", b"marketing"), *ls[2:]],  # edited
     ["does not match its MAC"], ["key=0", "key=2", "key=3"]),
    (lambda ls: [ls[0], *ls[2:]], ["lines 2..2 are missing"], ["key=0", "key=2", "key=3"]),  # removed
    (lambda ls: [ls[0], ls[1], ls[1], *ls[2:]], ["a second copy of line 2"],  # replayed
     ["key=0", "key=1", "key=2", "key=3"]),
    (lambda ls: [ls[0], ls[2], ls[1], ls[3]],  # reordered
     ["lines 2..2 are missing", "a second copy of line 2"], ["key=0", "key=2", "key=3"]),
], ids=["edited", "removed", "replayed", "reordered"])
def test_damage_before_sealing_is_chained_and_named(settings: Settings, change,  # type: ignore[no-untyped-def]
                                                    problems: list[str], queries: list[str]) -> None:
    j = _own_journal(settings, 4)
    _tamper(j.path, change)
    audit_journal.seal(settings, j.path)
    chain = _chain(settings)
    assert [e.query for e in chain if e.action == "lookup"] == queries
    with db.session(settings) as s:
        found = audit.verify(s, settings)
    assert [p.kind for p in found] == ["journal"] * len(problems)
    for p, problem in zip(found, problems, strict=True):
        assert problem in p.message and f"line 2 of the audit journal {j.name}" in p.message


def test_dead_writers_journal_is_sealed_torn_line_named_then_removed(settings: Settings) -> None:
    db.engine(settings)
    script = textwrap.dedent("""
        import os
        from lgsp.config import Settings
        from api import audit_journal
        settings = Settings.from_env()
        for i in range(3):
            audit_journal.write(settings, actor="cl_tax", action="lookup", query=f"key={i}")
        j = audit_journal._journals[audit_journal.journal_dir(settings)]
        os.write(j.fd, b'deadbeef {"actor": "cl_tax", "acti')  # killed mid-write
        os._exit(0)  # no sealing at exit: as if killed
    """)
    subprocess.run([sys.executable, "-c", script], cwd=PROJECT, check=True, timeout=120,
                   env={**os.environ, "LGSP_HOME": str(settings.home)})
    [path] = audit_journal.journal_dir(settings).glob("*.log")
    assert audit_journal.seal_all(settings) == 4
    chain = _chain(settings)
    assert [e.query for e in chain[:3]] == ["key=0", "key=1", "key=2"]
    assert chain[3].action == audit.JOURNAL_DAMAGED and "cut short" in chain[3].details["problem"]
    assert not path.exists()
    with db.session(settings) as s:
        assert s.scalar(select(ApiAuditJournal).where(ApiAuditJournal.name == path.name)) is None
        assert [p.kind for p in audit.verify(s, settings)] == ["journal"]


def test_a_journal_past_its_limit_is_rotated_losing_nothing(settings: Settings,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    j = _own_journal(settings, 10)
    monkeypatch.setattr(audit_journal, "ROTATE_BYTES", j.size - 1)
    first = j.path
    assert audit_journal.seal_round(j) == 10
    assert not first.exists() and j.path != first and j.path.exists()
    for i in range(10, 13):
        j.write(audit.journal_fields(settings, **_entry(i)))  # type: ignore[arg-type]
    assert audit_journal.seal_round(j) == 3
    assert [e.query for e in _chain(settings)] == [f"key={i}" for i in range(13)]
    with db.session(settings) as s:
        assert audit.verify(s, settings) == []
        assert s.execute(text("SELECT count(*) FROM api_audit_journals")).scalar_one() == 1


DAMAGE = st.lists(st.sampled_from(["keep", "drop", "repeat", "corrupt", "swap"]), min_size=1, max_size=12)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=DAMAGE)
def test_property_every_intact_line_chained_once_in_order_and_damage_named(
        settings: Settings, ops: list[str]) -> None:
    """Whatever happens to the lines, each line that arrives intact and in order is chained
    exactly once, in order; each disturbance is chained as damage; nothing else is."""
    j = _own_journal(settings, len(ops) + 1)
    lines = j.path.read_bytes().splitlines(keepends=True)
    j.path.write_bytes(b"")
    out: list[bytes] = []
    disturbed = False
    for i, op in enumerate(ops):
        disturbed |= op != "keep" and not (op == "swap" and not out)
        if op == "drop":
            continue
        if op == "corrupt":
            out.append(lines[i].replace(b"lookup", b"lookuP"))
        elif op == "repeat":
            out += [lines[i], lines[i]]
        elif op == "swap" and out:
            out.insert(len(out) - 1, lines[i])
        else:
            out.append(lines[i])
    out.append(lines[len(ops)])  # a last intact line
    name = f"prop-{os.urandom(4).hex()}.log"
    path = j.path.with_name(name)
    path.write_bytes(b"".join(out))
    before = len(_chain(settings))  # the examples share one database
    audit_journal.seal(settings, path)
    mine = _chain(settings)[before:]
    lookups = [int(e.query.split("=")[1]) for e in mine if e.action == "lookup"]
    assert lookups == sorted(set(lookups))  # once each, in order
    assert len(ops) in lookups  # the intact last line is there
    intact_in_order, seen = [], -1
    for raw in out:
        if b"lookuP" in raw:
            continue
        n = int(raw.split(b'"n":')[1].split(b"}")[0])
        if n > seen:
            intact_in_order.append(n - 1)
            seen = n
    assert lookups == intact_in_order
    damaged = [e for e in mine if e.action == audit.JOURNAL_DAMAGED]
    assert all(e.details["journal"] == name for e in damaged)
    assert len(mine) == len(lookups) + len(damaged)
    assert bool(damaged) == disturbed


def test_on_postgresql_concurrent_sealers_chain_each_line_once(settings: Settings) -> None:
    """The same with the control database on PostgreSQL (the head row locked FOR UPDATE)."""
    import dataclasses

    from tests.concurrency import pg_catalog

    with pg_catalog() as uri:
        pg = dataclasses.replace(settings, control_uri=uri)
        try:
            j = _own_journal(pg, 200)
            procs = [subprocess.Popen([sys.executable, "-c", SEAL_ONE, str(j.path)], cwd=PROJECT,
                                      env={**os.environ, "LGSP_HOME": str(settings.home),
                                           "LGSP_CONTROL_DB_URI": uri}) for _ in range(2)]
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda _: audit_journal.seal(pg, j.path), range(2)))
            assert [p.wait(timeout=120) for p in procs] == [0, 0]
            assert [e.query for e in _chain(pg)] == [f"key={i}" for i in range(200)]
            with db.session(pg) as s:
                assert audit.verify(s, pg) == []
        finally:
            eng = db._engines.pop(uri, None)
            if eng is not None:
                eng.dispose()


def test_a_forked_child_never_uses_its_parents_writer_connection(settings: Settings) -> None:
    """granian forks the workers after `prepare` has sealed in the parent: a child sealing
    from the same thread gets a connection of its own, and the chain stays whole."""
    j = _own_journal(settings, 3)
    audit_journal.seal(settings, j.path)  # the parent's writer connection now exists
    parent = audit._sqlite_writer(str(settings.home / "control.db"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a new connection, then seal more
        try:
            child = audit._sqlite_writer(str(settings.home / "control.db"))
            j2 = _own_journal(settings, 2)
            audit_journal.seal(settings, j2.path)
            os.write(write, b"new" if child is not parent else b"same")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 16) == b"new"
    os.waitpid(pid, 0)
    assert len(_chain(settings)) == 5
    with db.session(settings) as s:
        assert audit.verify(s, settings) == []
