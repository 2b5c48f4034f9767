"""The audit journal: the request path's durable step of the audit log, sealed into the hash
chain in batches (X-Road's security servers work the same way: each message is logged as it
passes, and the archiver builds the hash chain over the logged records later, in batches).

Writing (`write`, called by api/audit_writer.py for every request): the worker process
appends the entry - everything the chain will hash except the link to the previous entry:
time, client, action, purpose, dataset, normalised query, snapshot, row count, SHA-256 of
the response body, keyed hashes of the personal IDs (never the IDs) - as one line of its
own journal file, `LGSP_HOME/audit/journal/<host>-<pid>-<random>.log` (mode 0600), with one
write(2), before the response leaves. A line is `<mac> <json>\\n`: the JSON holds the entry
and the line's number in its journal; the MAC is HMAC-SHA256 under the audit key over the
JSON bytes. The worker holds an flock on its journal for its whole life, which tells the
others whether the writer is alive.

Sealing (`seal`): the lines of a journal past its sealed mark become chained entries
(api/audit.seal_journal) in one transaction that also moves the mark
(`api_audit_journals`: bytes and lines), so each line is chained exactly once, whoever
seals it and whenever; a crash in between is harmless. A line whose MAC does not verify,
that does not parse, whose number skips or repeats, or that a dead writer left half written
is chained as an `audit.journal_damaged` entry naming the journal, the line and the problem
(`lgsp audit verify` reports it). Each worker's sealer thread seals its own journal every
SEAL_INTERVAL_S and starts a new journal past ROTATE_BYTES; `seal_all` seals every journal
on this host, those of dead workers included, and removes those fully sealed whose writer
is gone: the server runs it at start, and `lgsp audit verify|who-accessed` and the DPO
endpoint run it before they read the log.

Durability is that of write(2): a worker killed after it loses nothing (the kernel has the
bytes); a power loss can lose the last lines, as SQLite in WAL mode with synchronous=NORMAL
(the control database's setting) can lose its last commits. LGSP_AUDIT_FSYNC=1 adds an
fdatasync per entry for a deployment that wants power-loss durability at that price. Until
sealed (normally within SEAL_INTERVAL_S), a line is protected by its MAC and its number, not
yet by the chain and the signed checkpoints.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from api import audit, metrics
from api.keys import audit_hmac_key
from lgsp.config import Settings

SEAL_INTERVAL_S = float(os.environ.get("LGSP_AUDIT_SEAL_INTERVAL_S", "0.1"))
ROTATE_BYTES = int(os.environ.get("LGSP_AUDIT_JOURNAL_ROTATE_BYTES", str(64 << 20)))
SEAL_MAX_BYTES = 8 << 20
"""Read at most this much of a journal per sealing transaction (a long backlog is sealed in
several transactions, none holding the chain's lock long)."""
ORPHANS_EVERY_S = 10.0
"""How often a sealer thread also looks for journals of dead workers on this host."""
FSYNC = os.environ.get("LGSP_AUDIT_FSYNC") == "1"
DAMAGED = audit.JOURNAL_DAMAGED
log = logging.getLogger(__name__)


def journal_dir(settings: Settings) -> Path:
    return settings.home / "audit" / "journal"


class Journal:
    """This process's journal in one LGSP home: numbered, MAC'd lines, one write(2) each."""

    def __init__(self, settings: Settings) -> None:
        folder = journal_dir(settings)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.settings = settings
        self.key = audit_hmac_key(settings)
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self._open(folder)

    def _open(self, folder: Path) -> None:
        self.name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}.log"
        self.path = folder / self.name
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
                          | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # held while this process lives
        self.lines = 0
        self.size = 0

    def write(self, fields: dict[str, Any]) -> None:
        with self.lock:
            body = orjson.dumps({**fields, "n": self.lines + 1})
            line = hmac.digest(self.key, body, "sha256").hex().encode() + b" " + body + b"\n"
            if os.write(self.fd, line) != len(line):  # a regular file: only when the disk is full
                raise OSError(f"audit journal {self.path}: short write (disk full?)")
            if FSYNC:
                os.fdatasync(self.fd)
            self.lines += 1
            self.size += len(line)

    def rotate(self) -> Path:
        """Start a new journal; the old one's path (its flock released: sealed by `seal`)."""
        with self.lock:
            old_fd, old = self.fd, self.path
            self._open(old.parent)
        os.close(old_fd)
        return old


_journals: dict[Path, Journal] = {}
_journals_lock = threading.Lock()
_by_settings: dict[Settings, Journal] = {}


def _journal(settings: Settings) -> Journal:
    found = _by_settings.get(settings)
    if found is not None and found.pid == os.getpid():
        return found
    folder = journal_dir(settings)
    with _journals_lock:
        found = _journals.get(folder)
        if found is None or found.pid != os.getpid():  # none yet, or inherited over fork
            found = _journals[folder] = Journal(settings)
            _start_sealer()
        _by_settings[settings] = found
    return found


def write(settings: Settings, **kwargs: Any) -> None:
    """Journal one entry (keyword arguments of api/audit.append); durable when this returns."""
    _journal(settings).write(audit.journal_fields(settings, **kwargs))


# ---- sealing --------------------------------------------------------------------------

@dataclass
class _Reader:
    """`Take` of api/audit.seal_journal over one journal file."""

    settings: Settings
    path: Path
    writer_gone: bool
    key: bytes
    more: bool = False
    """The last read stopped at SEAL_MAX_BYTES: more follows."""

    def __call__(self, sealed_bytes: int, sealed_lines: int) -> tuple[list[dict[str, Any]], int, int]:
        with self.path.open("rb") as fh:
            fh.seek(sealed_bytes)
            data = fh.read(SEAL_MAX_BYTES)
        self.more = len(data) == SEAL_MAX_BYTES
        end = data.rfind(b"\n") + 1
        entries: list[dict[str, Any]] = []
        expected = sealed_lines + 1
        unreadable = 0  # lines since the last good one whose number is unknown
        for raw in data[:end].split(b"\n")[:-1]:
            fields, number, problem = self._parse(raw)
            if fields is None or number is None:
                entries.append(self._damaged(expected + unreadable, problem or "", raw))
                unreadable += 1
                continue
            if number < expected:  # replayed or moved: not chained twice
                entries.append(self._damaged(number, f"a second copy of line {number}, after "
                                             f"line {expected - 1} (replayed or moved)", raw))
                continue
            if number > expected + unreadable:  # more lines gone than the unreadable ones
                entries.append(self._damaged(expected + unreadable, f"lines {expected + unreadable}"
                                             f"..{number - 1} are missing", raw))
            entries.append(fields)
            expected, unreadable = number + 1, 0
        consumed = sealed_bytes + end
        tail = data[end:]
        if tail and self.writer_gone and not self.more:  # its writer died mid-write
            entries.append(self._damaged(expected + unreadable, "a line cut short when its writer "
                                         "died", tail))
            consumed += len(tail)
        return entries, consumed, expected - 1

    def _parse(self, raw: bytes) -> tuple[dict[str, Any] | None, int | None, str | None]:
        mac, _, body = raw.partition(b" ")
        want = hmac.digest(self.key, body, "sha256").hex().encode()
        if not hmac.compare_digest(mac, want):
            return None, None, "the line does not match its MAC (edited, or not written by this service)"
        try:
            fields = orjson.loads(body)
            number = int(fields.pop("n"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None, None, "the line does not parse"
        return fields, number, None

    def _damaged(self, line: int, problem: str, raw: bytes) -> dict[str, Any]:
        return audit.journal_fields(self.settings, actor="lgsp:audit", action=DAMAGED, details={
            "journal": self.path.name, "line": line, "problem": problem,
            "sha256": hashlib.sha256(raw).hexdigest()})


def seal(settings: Settings, path: Path, writer_gone: bool = False) -> int:
    """Chain what the journal at `path` holds past its sealed mark; the entries chained."""
    total = 0
    reader = _Reader(settings, path, writer_gone, audit_hmac_key(settings))
    while True:
        reader.more = False
        done = audit.seal_journal(settings, path.name, reader)
        if done:
            metrics.audit_batch(done)
        total += done
        if not reader.more:
            return total


def _writer_gone(path: Path) -> bool:
    """Whether the journal's writer has died (its flock is free). Our own journals are
    held through another open file, so they count as alive here too."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        return True
    finally:
        os.close(fd)  # releases the probe's lock


def _remove(settings: Settings, path: Path) -> None:
    """Remove a fully sealed journal whose writer is gone, then its mark."""
    path.unlink(missing_ok=True)
    audit.forget_journal(settings, path.name)


def seal_all(settings: Settings) -> int:
    """Seal every journal on this host (live writers' complete lines; dead writers' whole
    files, which are then removed); the entries chained."""
    folder = journal_dir(settings)
    if not folder.is_dir():
        return 0
    total = 0
    for path in sorted(folder.glob("*.log")):
        gone = _writer_gone(path)
        try:
            total += seal(settings, path, writer_gone=gone)
        except FileNotFoundError:  # removed meanwhile by another sealer
            continue
        if gone and _fully_sealed(settings, path):
            _remove(settings, path)
    return total


def _fully_sealed(settings: Settings, path: Path) -> bool:
    from sqlalchemy import select

    from api.models import ApiAuditJournal
    from control import db

    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    with db.session(settings) as s:
        mark = s.scalar(select(ApiAuditJournal.sealed_bytes).where(ApiAuditJournal.name == path.name))
    return (mark or 0) >= size


_sealer_pid: int | None = None


def _start_sealer() -> None:
    """Once per process (a forked child starts its own)."""
    global _sealer_pid
    if _sealer_pid != os.getpid():
        import atexit

        threading.Thread(target=_sealer, name="audit-sealer", daemon=True).start()
        if _sealer_pid is None:
            atexit.register(_seal_at_exit)
        _sealer_pid = os.getpid()


def _seal_at_exit() -> None:
    try:
        seal_own()
    except Exception:  # noqa: BLE001 - the next server start seals what is left
        log.exception("audit journal: sealing at exit failed; the next start seals it")


def _sealer() -> None:
    """This process's sealer thread: `seal_round` every SEAL_INTERVAL_S, and dead workers'
    journals every ORPHANS_EVERY_S."""
    next_orphans = time.monotonic() + ORPHANS_EVERY_S
    while True:
        time.sleep(SEAL_INTERVAL_S)
        orphans = time.monotonic() > next_orphans
        if orphans:
            next_orphans = time.monotonic() + ORPHANS_EVERY_S
        for folder, journal in list(_journals.items()):
            if journal.pid != os.getpid():
                continue
            if not journal.path.exists():  # its home was removed (tests): forget it
                _journals.pop(folder, None)
                for key in [k for k, v in _by_settings.items() if v is journal]:
                    _by_settings.pop(key, None)
                continue
            try:
                seal_round(journal)
                if orphans:
                    seal_all(journal.settings)
            except Exception:  # noqa: BLE001 - the next round tries again; the lines wait
                log.exception("audit journal %s: sealing failed; retrying", journal.path)


def seal_round(journal: Journal) -> int:
    """Seal a journal of this process; past ROTATE_BYTES, go on in a new journal and seal
    and remove the old one. The entries chained."""
    done = seal(journal.settings, journal.path)
    if journal.size > ROTATE_BYTES:
        old = journal.rotate()
        done += seal(journal.settings, old, writer_gone=True)
        _remove(journal.settings, old)
    return done


def seal_own(settings: Settings | None = None) -> int:
    """Seal this process's journals now (at exit, and in tests)."""
    total = 0
    for journal in list(_journals.values()):
        if journal.pid == os.getpid() and (settings is None or journal.settings == settings):
            total += seal(journal.settings, journal.path)
    return total
