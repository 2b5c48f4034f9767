"""Per-client rate limits: a token bucket per client in each worker process (no shared
store on the request path). Each of W workers allows rate/W per minute with a burst of the
same size, so a client never gets more than its rate in total; `lgsp serve` tells workers
W through LGSP_SERVE_WORKERS. Over the limit: 429 with Retry-After (seconds)."""

from __future__ import annotations

import math
import os
import threading
import time

_buckets: dict[str, tuple[float, float]] = {}
_lock = threading.Lock()


def workers() -> int:
    return max(1, int(os.environ.get("LGSP_SERVE_WORKERS", "1")))


def take(client_id: str, rate_per_minute: int, now: float | None = None) -> int | None:
    """None if the request may go on, else the seconds to wait before the next one may."""
    now = time.monotonic() if now is None else now
    capacity = max(1.0, rate_per_minute / workers())
    per_second = capacity / 60.0
    with _lock:
        tokens, last = _buckets.get(client_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * per_second)
        if tokens >= 1.0:
            _buckets[client_id] = (tokens - 1.0, now)
            return None
        _buckets[client_id] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / per_second))
