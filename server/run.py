"""Run the ASGI application under granian (Rust HTTP server, ASGI interface) with several
worker processes. Chosen after measuring on this machine with wrk (16 connections, 2
workers, a constant endpoint): uvicorn with h11 stalls ~44 ms per request (331 req/s, p50
44 ms); uvicorn with uvloop + httptools 3,278 req/s, p50 3.3 ms; granian 4,070 req/s, p50
3.1 ms. Workers are spawned processes that import `server.app:app` themselves; settings
reach them through the environment (LGSP_HOME, LGSP_SPECS_DIR, LGSP_CONTROL_DB_URI,
LGSP_API_STORE_URI), and PROMETHEUS_MULTIPROC_DIR (LGSP_HOME/run/prometheus/<server pid>,
new at start) lets /metrics sum the workers' samples.
Workers that do not stop within 10 s of SIGTERM are killed (seen with SIGINT ignored, as in
a shell's background job: without the timeout the server never exited).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lgsp.config import Settings


def prepare(settings: Settings) -> None:
    """Before the workers start: migrate the control database, seal the audit journals an
    earlier run left (api/audit_journal.py), refresh the catalogue
    entries of every spec and build the agency API's serving copies of every current
    snapshot (api/serving.py; one process does it, so workers never race on it)."""
    from api import audit_journal, data, serving
    from catalog import catalogue
    from catalog.spec import load_specs
    from control import db

    db.engine(settings)
    audit_journal.seal_all(settings)  # what workers of an earlier run left unsealed
    for spec in load_specs(settings.specs_dir):
        catalogue.sync_dataset(spec, settings)
        snap = data.snapshot(settings, spec.id)
        if snap is not None:
            serving.build(settings, spec, snap.id, snap.files)


def metrics_dir(settings: Settings) -> Path:
    """Where this server's workers keep their Prometheus samples: a folder per server
    process (two servers on one home must not wipe or sum each other's), created empty;
    folders of servers no longer running are removed."""
    import psutil

    base = settings.home / "run" / "prometheus"
    base.mkdir(parents=True, exist_ok=True)
    for old in base.iterdir():
        if not (old.name.isdigit() and psutil.pid_exists(int(old.name))) or int(old.name) == os.getpid():
            shutil.rmtree(old, ignore_errors=True)
    return base / str(os.getpid())


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 2) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    folder = metrics_dir(settings)  # before any import of prometheus_client
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    prepare(settings)
    os.environ["LGSP_HOME"] = str(settings.home)
    os.environ["LGSP_SPECS_DIR"] = str(settings.specs_dir)
    os.environ["LGSP_SERVE_WORKERS"] = str(workers)  # per-worker share of each client's rate limit
    if settings.control_uri:
        os.environ["LGSP_CONTROL_DB_URI"] = settings.control_uri
    if settings.api_store_uri:
        os.environ["LGSP_API_STORE_URI"] = settings.api_store_uri
    Granian("server.app:app", address=host, port=port, interface=Interfaces.ASGI,
            workers=workers, log_access=False, workers_kill_timeout=10).serve()
