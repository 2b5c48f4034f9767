"""Prometheus metrics of the served app (prometheus_client), exposed at /metrics.

granian runs worker processes, so the client's multiprocess mode is used when
PROMETHEUS_MULTIPROC_DIR is set (server/run.py sets it to a new folder per server process,
LGSP_HOME/run/prometheus/<pid>, before the workers start): each worker writes its samples to files there and
/metrics sums them. Without it (a single process, the tests' in-process app) the default
registry answers.

- lgsp_http_requests_total{route, method, status}: requests by route template and status;
- lgsp_http_request_duration_seconds{route, method, status}: latency histogram;
- lgsp_audit_batch_size: entries chained per sealing transaction (api/audit_journal.py).
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

ENV = "PROMETHEUS_MULTIPROC_DIR"
REQUESTS = Counter("lgsp_http_requests", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram("lgsp_http_request_duration_seconds", "Time to answer an HTTP request",
                    ["route", "method", "status"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
AUDIT_BATCH = Histogram("lgsp_audit_batch_size", "Audit entries chained per sealing transaction",
                        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))


def audit_batch(size: int) -> None:
    AUDIT_BATCH.observe(size)


def exposition() -> tuple[bytes, str]:
    """The metrics text (summed over worker processes in multiprocess mode)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class Middleware:
    """Pure ASGI middleware counting and timing every HTTP request by route template."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "<unmatched>"
            labels = (template, scope.get("method", ""), str(status[0]))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - start)
