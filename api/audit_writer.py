"""Group commit of the audit log in a worker process: request handlers hand their entry to
one writer thread and wait until it is committed; the writer appends every entry waiting
at that moment in one transaction (api/audit.append_many: SQLAlchemy Core bulk inserts,
the chain serialised across worker processes). A response still goes out only after its
entry is in the log, but N concurrent requests cost one commit, not N.

`append` blocks the calling thread (handed to the writer thread); `append_async` is awaited
by async routes: their entries are committed together in the event loop's own thread at
its next turn. Batch sizes go to the metrics (api/metrics.py).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

from api import audit, metrics
from lgsp.config import Settings

MAX_BATCH = 512
GROUP_WINDOW_S = 0.002
"""How long the writer waits after the first entry for others to share its commit, when
the previous batch had company (under load): +2 ms at most. Measured in one process with
16 concurrent lookups: a 1 ms window gave batches of ~4 and ~310-380 us of writer CPU per
entry, 3 ms batches of ~8 and ~235 us (and 25-60 % more lookups per second)."""
_queue: queue.Queue[tuple[Settings, dict[str, Any], Future[None]]] = queue.Queue()
_started = False
_start_lock = threading.Lock()


def _commit(batch: list[tuple[Settings, dict[str, Any], Any]]) -> None:
    """Append a batch's entries (one transaction per control database) and settle each
    waiting future (threads' or the event loop's) with the outcome."""
    by_settings: dict[Settings, list[tuple[dict[str, Any], Any]]] = {}
    for settings, fields, fut in batch:
        by_settings.setdefault(settings, []).append((fields, fut))
    for settings, items in by_settings.items():
        try:
            audit.append_many(settings, [fields for fields, _ in items])
            metrics.audit_batch(len(items))
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(exc)
        else:
            for _, fut in items:
                if not fut.done():
                    fut.set_result(None)


def _run() -> None:
    busy = False
    while True:
        batch = [_queue.get()]
        deadline = time.monotonic() + (GROUP_WINDOW_S if busy else 0.0)
        while len(batch) < MAX_BATCH:
            try:
                wait = deadline - time.monotonic()
                batch.append(_queue.get(timeout=wait) if wait > 0 else _queue.get_nowait())
            except queue.Empty:
                break
        busy = len(batch) > 1
        _commit(batch)


def _submit(settings: Settings, fields: dict[str, Any]) -> Future[None]:
    global _started
    if not _started:
        with _start_lock:
            if not _started:
                threading.Thread(target=_run, name="audit-writer", daemon=True).start()
                _started = True
    fut: Future[None] = Future()
    _queue.put((settings, fields, fut))
    return fut


def append(settings: Settings, **fields: Any) -> None:
    """Append one entry (committed when this returns), sharing the commit with others."""
    _submit(settings, fields).result()


_pending: dict[asyncio.AbstractEventLoop, list[tuple[Settings, dict[str, Any], asyncio.Future[None]]]] = {}


def _flush(loop: asyncio.AbstractEventLoop) -> None:
    """Commit every entry the event loop's handlers queued since the last flush, in the
    loop's own thread: no hand-over to the writer thread and back (each cost a wake-up of
    the loop and a GIL switch, which under load cost more than the commit itself)."""
    _commit(_pending.pop(loop, []))


async def append_async(settings: Settings, **fields: Any) -> None:
    """`append` for async code: the entry joins the others queued by this event loop's
    handlers in the same turn and is committed with them at the loop's next turn; the
    handler resumes once it is in the log."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    batch = _pending.get(loop)
    if batch is None:
        batch = _pending[loop] = []
        loop.call_soon(_flush, loop)
    batch.append((settings, fields, fut))
    await fut
