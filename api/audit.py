"""The append-only, hash-chained audit log of every API request and control-plane change.

Each entry holds time, actor (client id or `cli:<user>`), action, purpose, dataset, the
normalised query, snapshot, row count and the SHA-256 of the response body, and the
previous entry's hash; its own hash is SHA-256 over all of that (canonical JSON). Personal
IDs are stored only as keyed hashes (HMAC-SHA256, key in LGSP_HOME/keys), in the entry and
in an index for `who_accessed`. Appends serialise on the head row (`api_audit_head`): an
UPDATE takes the write lock first on SQLite and a row lock on PostgreSQL, so two workers
never fork the chain. `verify()` walks the chain and names an edited, deleted or reordered
entry; the head also catches a deleted tail.

Two ways in: `append(session, ...)` adds one entry in the caller's ORM transaction (the
control-plane changes, audited with the change itself); `seal_journal(settings, name, take)`
chains a batch of request entries read from a worker's journal (api/audit_journal.py) and
moves the journal's sealed mark, in one transaction with SQLAlchemy Core bulk inserts. On
SQLite the batch first takes an exclusive file
lock (`control.db.audit-lock`, flock: the other worker process waits in the kernel and
wakes at once, not in SQLite's busy handler that sleeps up to 100 ms) and then BEGIN
IMMEDIATE; on PostgreSQL the head row is locked with SELECT ... FOR UPDATE. Either way the
head is read inside the lock, so worker processes never fork the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from api import control_version
from api.keys import audit_hmac_key
from api.models import (
    ApiAuditCheckpoint,
    ApiAuditEntry,
    ApiAuditHead,
    ApiAuditJournal,
    ApiAuditSubject,
)
from lgsp.config import Settings

GENESIS = "0" * 64
WRITE_LOCK = threading.Lock()
"""Held by a worker's request threads around an append's transaction: they queue here
instead of in SQLite's busy handler, which sleeps up to 100 ms per retry."""
CHECKPOINT_EVERY = 1000
JOURNAL_DAMAGED = "audit.journal_damaged"
_HASHED = ("at", "actor", "action", "purpose", "dataset", "query", "snapshot_id", "row_count",
           "response_sha256", "subjects", "details", "prev_hash")


def subject_hash(settings: Settings, personal_id: str) -> str:
    """The keyed hash under which the log knows a person (never the ID in clear)."""
    return hmac.digest(audit_hmac_key(settings), personal_id.strip().encode("utf-8"), "sha256").hex()


HASH_VERSION = 2
"""How an entry's hash serialises its fields (`api_audit.hash_version`, migration 0004):
1 = json.dumps (sorted keys, compact; entries written before 0004), 2 = orjson with sorted
keys (the same JSON for the values entries hold, ~8 us less per entry). Not itself hashed:
changing it changes the recomputed hash, so verify names the entry as edited."""


def entry_hash(fields: dict[str, Any], version: int = HASH_VERSION) -> str:
    hashed = {k: fields[k] for k in _HASHED}
    if version not in (1, 2):
        raise ValueError(f"unknown audit hash version {version!r}")
    if version == 1:
        body = json.dumps(hashed, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode("utf-8")
    else:
        body = orjson.dumps(hashed, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(body).hexdigest()


def _hashed(fields: dict[str, Any]) -> tuple[str, int]:
    """(hash, version) of a new entry: version 2, or 1 for what orjson cannot write (an
    integer past 64 bits in `details`)."""
    try:
        return entry_hash(fields), HASH_VERSION
    except orjson.JSONEncodeError:
        return entry_hash(fields, 1), 1


def _fields(e: ApiAuditEntry) -> dict[str, Any]:
    return {k: getattr(e, k) for k in _HASHED}


def append(session: Session, settings: Settings, *, actor: str, action: str,
           purpose: str | None = None, dataset: str | None = None, query: str | None = None,
           snapshot_id: int | str | None = None, row_count: int | None = None,
           response_sha256: str | None = None, personal_ids: Iterable[str] = (),
           details: dict[str, Any] | None = None, at: datetime | None = None) -> ApiAuditEntry:
    """Add one entry at the chain's end, in the caller's transaction."""
    bumped = session.execute(update(ApiAuditHead).where(ApiAuditHead.id == 1)
                             .values(seq=ApiAuditHead.seq + 1)).rowcount
    if not bumped:  # the migration inserts the head row: someone deleted it
        raise RuntimeError("api_audit_head row is missing: the audit log was tampered with")
    head = session.execute(select(ApiAuditHead.seq, ApiAuditHead.entry_hash)
                           .where(ApiAuditHead.id == 1)).one()
    fields = _new_fields(settings, head.entry_hash, actor=actor, action=action, purpose=purpose,
                         dataset=dataset, query=query, snapshot_id=snapshot_id, row_count=row_count,
                         response_sha256=response_sha256, personal_ids=personal_ids,
                         details=details, at=at)
    subjects = fields["subjects"]
    hash_, version = _hashed(fields)
    entry = ApiAuditEntry(seq=head.seq, entry_hash=hash_, hash_version=version, **fields)
    session.add(entry)
    session.flush()
    session.add_all(ApiAuditSubject(seq=entry.seq, subject=s) for s in subjects)
    session.execute(update(ApiAuditHead).where(ApiAuditHead.id == 1)
                    .values(entry_hash=entry.entry_hash))
    if entry.seq % CHECKPOINT_EVERY == 0:
        checkpoint(session, settings)
    return entry


def _new_fields(settings: Settings, prev_hash: str, *, actor: str, action: str,
                purpose: str | None = None, dataset: str | None = None, query: str | None = None,
                snapshot_id: int | str | None = None, row_count: int | None = None,
                response_sha256: str | None = None, personal_ids: Iterable[str] = (),
                details: dict[str, Any] | None = None, at: datetime | None = None) -> dict[str, Any]:
    return {
        "at": (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor, "action": action, "purpose": purpose, "dataset": dataset, "query": query,
        "snapshot_id": None if snapshot_id is None else str(snapshot_id), "row_count": row_count,
        "response_sha256": response_sha256,
        "subjects": sorted({subject_hash(settings, p) for p in personal_ids}),
        "details": details or {}, "prev_hash": prev_hash,
    }


_lock_files: dict[str, Any] = {}


@contextmanager
def _chain_lock(settings: Settings) -> Iterator[None]:
    """Across worker processes: an exclusive flock beside a SQLite control database (a
    no-op on PostgreSQL, where the head's row lock does it). Held with WRITE_LOCK, so one
    open lock file per process serves every thread."""
    path = control_version._sqlite_path(settings.control_db_uri)
    if path is None:
        yield
        return
    import fcntl

    fh = _lock_files.get(path)
    if fh is None:
        fh = _lock_files[path] = open(f"{path}.audit-lock", "a+b")  # noqa: SIM115 - kept open
    fcntl.flock(fh, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)


_HEAD = select(ApiAuditHead.seq, ApiAuditHead.entry_hash).where(ApiAuditHead.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_INSERT_ENTRIES = insert(ApiAuditEntry.__table__)
_INSERT_SUBJECTS = insert(ApiAuditSubject.__table__)
_INSERT_CHECKPOINTS = insert(ApiAuditCheckpoint.__table__)
_SET_HEAD = (update(ApiAuditHead.__table__).where(ApiAuditHead.__table__.c.id == 1)
             .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash")))
"""Statements built once (Core compiles each once and caches it)."""


_compiled: dict[tuple[int, str], tuple[str, tuple[str, ...] | None]] = {}


def _sql(statement: Any, dialect: Any) -> tuple[str, tuple[str, ...] | None]:
    """A Core statement compiled once per dialect: its SQL and its positional parameter order."""
    key = (id(statement), dialect.name)
    found = _compiled.get(key)
    if found is None:
        compiled = statement.compile(dialect=dialect)
        found = (str(compiled), tuple(compiled.positiontup) if compiled.positional else None)
        _compiled[key] = found
    return found


_JSON_COLUMNS = frozenset(("subjects", "details"))


def _json_text(value: Any) -> str:
    """A JSON column's stored text (read back with json.loads: the hash is computed from
    the values, so any valid JSON of them verifies)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _dbapi_params(order: tuple[str, ...] | None, rows: list[dict[str, Any]]) -> Any:
    if order is None:
        return [{k: _json_text(v) if k in _JSON_COLUMNS else v for k, v in r.items()} for r in rows]
    json_at = [k in _JSON_COLUMNS for k in order]
    return [tuple(_json_text(r[k]) if j else r[k] for k, j in zip(order, json_at, strict=True))
            for r in rows]


_sqlite_writers = threading.local()
_inherited: list[dict[str, Any]] = []


def _sqlite_writer(path: str) -> Any:
    """The calling thread's own write connection to a SQLite control database (kept open:
    a pool checkout and SQLAlchemy's per-statement bookkeeping cost more than the insert)."""
    import sqlite3

    cons: dict[str, Any] = getattr(_sqlite_writers, "cons", None) or {}
    if getattr(_sqlite_writers, "pid", None) != os.getpid():
        # a forked child (granian forks its workers after `prepare` sealed in the parent)
        # inherits the parent thread's connections: never use them; keep them referenced,
        # unclosed, so no SQLite state of the parent's is touched
        _inherited.append(cons)
        cons = {}
        _sqlite_writers.pid = os.getpid()
    _sqlite_writers.cons = cons
    con = cons.get(path)
    if con is None:
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("foreign_keys = ON", "journal_mode = WAL", "busy_timeout = 10000",
                       "synchronous = NORMAL", "wal_autocheckpoint = 0"):
            con.execute(f"PRAGMA {pragma}")
        cons[path] = con
        with _checkpointers_lock:  # one per database and process, whichever thread writes
            if (path, os.getpid()) not in _checkpointers:
                _checkpointers.add((path, os.getpid()))
                threading.Thread(target=_checkpointer, args=(path,), name="audit-wal-checkpoint",
                                 daemon=True).start()
    return con


_checkpointers: set[tuple[str, int]] = set()
_checkpointers_lock = threading.Lock()


CHECKPOINT_WAL_EVERY_S = 0.5


def _checkpointer(path: str) -> None:
    """Copy the WAL into the database file from a thread of its own (PASSIVE: never waits
    for, nor blocks, a writer or a reader): with SQLite's automatic checkpoint the commit
    that crosses 1,000 WAL pages did it, and every request waiting on that commit (in both
    workers) waited tens of milliseconds more."""
    import sqlite3

    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA busy_timeout = 0")
    while True:
        time.sleep(CHECKPOINT_WAL_EVERY_S)
        try:
            con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:  # busy or locked: the next round does it
            continue


def _chain_rows(settings: Settings, seq: int, prev: str, entries: list[dict[str, Any]]
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Entries (`journal_fields`, no link yet) chained after (seq, prev): the rows of the
    log, of the who-accessed index and of the signed checkpoints that fall among them."""
    rows, subjects, checkpoints = [], [], []
    for e in entries:
        seq += 1
        fields = {**e, "prev_hash": prev}
        prev, version = _hashed(fields)
        rows.append({"seq": seq, "entry_hash": prev, "hash_version": version, **fields})
        subjects += [{"seq": seq, "subject": h} for h in fields["subjects"]]
        if seq % CHECKPOINT_EVERY == 0:
            checkpoints.append(_signed(settings, seq, prev))
    return rows, subjects, checkpoints


def journal_fields(settings: Settings, **kwargs: Any) -> dict[str, Any]:
    """An entry's fields (keyword arguments of `append`) as the journal keeps them until
    sealed: everything the hash covers but the link to the previous entry."""
    fields = _new_fields(settings, "", **kwargs)
    del fields["prev_hash"]
    return fields


Take = Callable[[int, int], tuple[list[dict[str, Any]], int, int]]
"""(sealed bytes, sealed lines) -> (entries to chain, new sealed bytes, new sealed lines)."""
_JOURNAL = select(ApiAuditJournal.sealed_bytes, ApiAuditJournal.sealed_lines).where(
    ApiAuditJournal.name == bindparam("name"))
_INSERT_JOURNAL = insert(ApiAuditJournal.__table__)
_SET_JOURNAL = (update(ApiAuditJournal.__table__)
                .where(ApiAuditJournal.__table__.c.name == bindparam("journal"))
                .values(sealed_bytes=bindparam("b"), sealed_lines=bindparam("n")))


def seal_journal(settings: Settings, name: str, take: Take) -> int:
    """Chain what `take` reads from journal `name` past its sealed mark, and move the mark,
    in one transaction (so each journal line is chained exactly once, whoever seals it);
    the number of entries chained. The mark is read inside the chain's lock: on SQLite an
    flock beside the database (the other processes wait in the kernel, not in SQLite's busy
    handler that sleeps up to 100 ms) then BEGIN IMMEDIATE on the sealing thread's own
    connection; on PostgreSQL the head row locked FOR UPDATE."""
    from control import db

    eng = db.engine(settings)
    path = control_version._sqlite_path(settings.control_db_uri)
    with WRITE_LOCK, _chain_lock(settings):
        if path is not None:
            con = _sqlite_writer(path)
            con.execute("BEGIN IMMEDIATE")
            try:
                head = con.execute(_sql(_HEAD, eng.dialect)[0], (1,)).fetchone()
                if head is None:
                    raise RuntimeError("api_audit_head row is missing: the audit log was tampered with")
                sql, order = _sql(_JOURNAL, eng.dialect)
                mark = con.execute(sql, _dbapi_params(order, [{"name": name, "name_1": name}])[0]).fetchone()
                entries, new_bytes, new_lines = take(*(mark or (0, 0)))
                if not entries and (mark or (0, 0)) == (new_bytes, new_lines):
                    con.execute("ROLLBACK")
                    return 0
                rows, subjects, checkpoints = _chain_rows(settings, head[0], head[1], entries)
                for statement, items in ((_INSERT_ENTRIES, rows), (_INSERT_SUBJECTS, subjects),
                                         (_INSERT_CHECKPOINTS, checkpoints)):
                    if items:
                        sql, order = _sql(statement, eng.dialect)
                        con.executemany(sql, _dbapi_params(order, items))
                if mark is None:
                    sql, order = _sql(_INSERT_JOURNAL, eng.dialect)
                    con.execute(sql, _dbapi_params(order, [{"name": name, "sealed_bytes": new_bytes,
                                                            "sealed_lines": new_lines}])[0])
                else:
                    sql, order = _sql(_SET_JOURNAL, eng.dialect)
                    con.execute(sql, _dbapi_params(order, [{"journal": name, "b": new_bytes,
                                                            "n": new_lines}])[0])
                if rows:
                    sql, order = _sql(_SET_HEAD, eng.dialect)
                    last = {"new_seq": rows[-1]["seq"], "new_hash": rows[-1]["entry_hash"], "id_1": 1}
                    con.execute(sql, _dbapi_params(order, [last])[0])
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            return len(rows)
        with eng.begin() as pg:
            head = pg.execute(_HEAD_FOR_UPDATE).one_or_none()
            if head is None:
                raise RuntimeError("api_audit_head row is missing: the audit log was tampered with")
            mark = pg.execute(_JOURNAL, {"name": name}).one_or_none()
            entries, new_bytes, new_lines = take(*(tuple(mark) if mark else (0, 0)))
            if not entries and (tuple(mark) if mark else (0, 0)) == (new_bytes, new_lines):
                return 0
            rows, subjects, checkpoints = _chain_rows(settings, head.seq, head.entry_hash, entries)
            if rows:
                pg.execute(_INSERT_ENTRIES, rows)
            if subjects:
                pg.execute(_INSERT_SUBJECTS, subjects)
            if checkpoints:
                pg.execute(_INSERT_CHECKPOINTS, checkpoints)
            if mark is None:
                pg.execute(_INSERT_JOURNAL, {"name": name, "sealed_bytes": new_bytes,
                                             "sealed_lines": new_lines})
            else:
                pg.execute(_SET_JOURNAL, {"journal": name, "b": new_bytes, "n": new_lines})
            if rows:
                pg.execute(_SET_HEAD, {"new_seq": rows[-1]["seq"], "new_hash": rows[-1]["entry_hash"]})
        return len(rows)


def forget_journal(settings: Settings, name: str) -> None:
    """Drop a removed journal's sealed mark."""
    from sqlalchemy import delete

    from control import db

    with db.engine(settings).begin() as con:
        con.execute(delete(ApiAuditJournal).where(ApiAuditJournal.name == name))


def _signed(settings: Settings, seq: int, entry_hash_: str) -> dict[str, Any]:
    import base64

    from api.tokens import signing_key

    key = signing_key(settings)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    sig = base64.b64encode(key.private.sign(_statement(seq, entry_hash_, at))).decode()
    return {"seq": seq, "entry_hash": entry_hash_, "at": at, "kid": key.kid, "signature": sig}


def _statement(seq: int, entry_hash_: str, at: str) -> bytes:
    return f"lgsp-audit-checkpoint:{seq}:{entry_hash_}:{at}".encode()


def checkpoint(session: Session, settings: Settings) -> ApiAuditCheckpoint | None:
    """Sign the chain's current head (Ed25519, the token key); None on an empty log."""
    import base64

    from api.tokens import signing_key

    head = session.get(ApiAuditHead, 1)
    if head is None or head.seq == 0 or session.get(ApiAuditCheckpoint, head.seq) is not None:
        return None
    key = signing_key(settings)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    sig = base64.b64encode(key.private.sign(_statement(head.seq, head.entry_hash, at))).decode()
    cp = ApiAuditCheckpoint(seq=head.seq, entry_hash=head.entry_hash, at=at, kid=key.kid, signature=sig)
    session.add(cp)
    return cp


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str
    """edited | deleted | reordered | head | checkpoint | journal (a journal line damaged
    before it was sealed, recorded as such in the chain: api/audit_journal.py)"""
    message: str


def verify(session: Session, settings: Settings | None = None) -> list[Problem]:
    """Every break in the chain, naming the entry: [] when the log is intact. With settings,
    the signed checkpoints are checked too (signature, and the entry they vouch for)."""
    entries = session.scalars(select(ApiAuditEntry).order_by(ApiAuditEntry.seq)).all()
    by_hash = {e.entry_hash: e.seq for e in entries}
    problems: list[Problem] = []
    prev_seq, prev_hash = 0, GENESIS
    for e in entries:
        try:
            intact = entry_hash(_fields(e), e.hash_version) == e.entry_hash
        except ValueError:  # an unknown hash version: the row was changed
            intact = False
        if not intact:
            problems.append(Problem(e.seq, "edited", f"entry {e.seq} was edited: its content no "
                                    "longer matches its hash"))
        if e.seq != prev_seq + 1:
            missing = (f"entry {prev_seq + 1}" if e.seq == prev_seq + 2
                       else f"entries {prev_seq + 1}..{e.seq - 1}")
            problems.append(Problem(prev_seq + 1, "deleted", f"{missing} deleted (the log "
                                    f"jumps from {prev_seq} to {e.seq})"))
        elif e.prev_hash != prev_hash:
            if e.prev_hash in by_hash:
                problems.append(Problem(e.seq, "reordered", f"entry {e.seq} is out of order: it was "
                                        f"written after entry {by_hash[e.prev_hash]}, not {prev_seq}"))
            elif not any(p.seq == prev_seq and p.kind == "edited" for p in problems):
                problems.append(Problem(prev_seq, "edited", f"entry {prev_seq} was replaced or "
                                        f"edited with its hash recomputed: entry {e.seq} no longer "
                                        "links to it"))
        if e.action == JOURNAL_DAMAGED:
            d = e.details or {}
            problems.append(Problem(e.seq, "journal", f"entry {e.seq}: line {d.get('line')} of the "
                                    f"audit journal {d.get('journal')} was damaged before it was "
                                    f"sealed: {d.get('problem')}"))
        prev_seq, prev_hash = e.seq, e.entry_hash
    head = session.get(ApiAuditHead, 1)
    if head is not None and (head.seq != prev_seq or head.entry_hash != prev_hash):
        if head.seq > prev_seq:
            problems.append(Problem(prev_seq + 1, "deleted", f"entries {prev_seq + 1}..{head.seq} "
                                    f"deleted from the end (the head says {head.seq} entries)"))
        else:
            problems.append(Problem(head.seq, "head", "the head does not match the last entry"))
    if settings is not None:
        problems += _check_checkpoints(session, settings, {e.seq: e.entry_hash for e in entries})
    return problems


def _check_checkpoints(session: Session, settings: Settings, hashes: dict[int, str]) -> list[Problem]:
    import base64

    from cryptography.exceptions import InvalidSignature

    from api.tokens import signing_key

    key = signing_key(settings)
    problems = []
    for cp in session.scalars(select(ApiAuditCheckpoint).order_by(ApiAuditCheckpoint.seq)):
        try:
            key.public.verify(base64.b64decode(cp.signature), _statement(cp.seq, cp.entry_hash, cp.at))
        except (InvalidSignature, ValueError):
            problems.append(Problem(cp.seq, "checkpoint", f"the checkpoint at entry {cp.seq} is not "
                                    "signed by this service's key"))
            continue
        if cp.seq not in hashes:
            problems.append(Problem(cp.seq, "deleted", f"entry {cp.seq}, vouched for by a signed "
                                    "checkpoint, is missing"))
        elif hashes[cp.seq] != cp.entry_hash:
            problems.append(Problem(cp.seq, "edited", f"entry {cp.seq} differs from the hash a signed "
                                    f"checkpoint recorded at {cp.at}: the log was rewritten"))
    return problems


def count_sql():  # type: ignore[no-untyped-def]
    """SELECT the number of entries."""
    from sqlalchemy import func

    return select(func.count()).select_from(ApiAuditEntry)


@dataclass(frozen=True)
class Access:
    seq: int
    at: str
    client: str
    purpose: str | None
    dataset: str | None
    action: str
    query: str | None


def who_accessed(session: Session, settings: Settings, personal_id: str) -> list[Access]:
    """Which client read this person's record, when and for what purpose (oldest first)."""
    rows = session.scalars(
        select(ApiAuditEntry).join(ApiAuditSubject, ApiAuditSubject.seq == ApiAuditEntry.seq)
        .where(ApiAuditSubject.subject == subject_hash(settings, personal_id))
        .order_by(ApiAuditEntry.seq)
    ).all()
    return [Access(e.seq, e.at, e.actor, e.purpose, e.dataset, e.action, e.query) for e in rows]
