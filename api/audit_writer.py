"""How request handlers audit: `append` (threads) and `append_async` (async routes) journal
the entry with one write(2) in the calling thread before they return, so the response
leaves only once its entry is durable; the worker's sealer thread chains the journal into
the control database in batches (api/audit_journal.py). No request waits for a database
commit or for the chain's cross-process lock: measured on the 2-core machine, committing each
event-loop turn's entries made auth + audit cost more than half of a key lookup's
throughput (docs/ARCHITECTURE.md, bench `python -m bench api`).
"""

from __future__ import annotations

from typing import Any

from api import audit_journal
from lgsp.config import Settings


def append(settings: Settings, **fields: Any) -> None:
    """Journal one entry (keyword arguments of api/audit.append); durable when this returns."""
    audit_journal.write(settings, **fields)


async def append_async(settings: Settings, **fields: Any) -> None:
    """`append` for async code (a write(2) of one line: not worth a thread hop)."""
    audit_journal.write(settings, **fields)
