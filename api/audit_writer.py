"""Group commit of the audit log in a worker process: request threads hand their entry to
one writer thread and wait until it is committed; the writer appends every entry waiting
at that moment in one transaction. A response still goes out only after its entry is in
the log, but N concurrent requests cost one SQLite (or PostgreSQL) commit, not N."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

from api import audit
from control import db
from lgsp.config import Settings

MAX_BATCH = 256
_queue: queue.Queue[tuple[Settings, dict[str, Any], Future[None]]] = queue.Queue()
_started = False
_start_lock = threading.Lock()


def _run() -> None:
    while True:
        batch = [_queue.get()]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(_queue.get_nowait())
            except queue.Empty:
                break
        by_settings: dict[Settings, list[tuple[dict[str, Any], Future[None]]]] = {}
        for settings, fields, fut in batch:
            by_settings.setdefault(settings, []).append((fields, fut))
        for settings, items in by_settings.items():
            try:
                with audit.WRITE_LOCK, db.session(settings) as s:
                    for fields, _ in items:
                        audit.append(s, settings, **fields)
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
                for _, fut in items:
                    fut.set_exception(exc)
            else:
                for _, fut in items:
                    fut.set_result(None)


def append(settings: Settings, **fields: Any) -> None:
    """Append one entry (committed when this returns), sharing the commit with others."""
    global _started
    with _start_lock:
        if not _started:
            threading.Thread(target=_run, name="audit-writer", daemon=True).start()
            _started = True
    fut: Future[None] = Future()
    _queue.put((settings, fields, fut))
    fut.result()
