"""The one ASGI application: open data (downloads, CKAN Action API, DCAT-AP), the agency API
(api/, under /api/v1, with RFC 9457 problem details) and the portal's pages (portal/, static
files under /portal-static); Prometheus metrics at /metrics (api/metrics.py); the load
benchmark's baselines under /bench only with LGSP_BENCH_ENDPOINTS=1 (api/bench_routes.py).

`create_app(settings)` builds it; `app` is the module-level instance production servers
import (settings from the environment). The control database is migrated at startup.
"""

from __future__ import annotations

from fastapi import FastAPI

from control import db
from lgsp.config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    from fastapi import Response
    from fastapi.staticfiles import StaticFiles

    from api import bench_routes, metrics, problems
    from api.routes import router as api_router
    from opendata import ckan, dcat, downloads
    from portal import routes as portal_routes

    settings = settings or Settings.from_env()
    db.engine(settings)  # migrate before the first request
    app = FastAPI(title="LGSP shared-data bus", version="0.1.0",
                  description="Open data (CKAN-compatible Action API, downloads).")
    app.state.settings = settings

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        body, media_type = metrics.exposition()
        return Response(body, media_type=media_type)

    app.add_middleware(metrics.Middleware)
    if bench_routes.enabled():  # LGSP_BENCH_ENDPOINTS=1 only: load-benchmark baselines
        app.include_router(bench_routes.router)

    app.include_router(downloads.router)
    app.include_router(ckan.router)
    app.include_router(dcat.router)
    app.include_router(api_router)  # the agency API, /api/v1
    problems.install(app)
    app.include_router(portal_routes.router)
    app.mount("/portal-static", StaticFiles(directory=portal_routes.STATIC_DIR), name="portal-static")
    _freeze_startup_objects()
    return app


def _freeze_startup_objects() -> None:
    """Move everything built at start (modules, routes, specs, caches) out of the garbage
    collector's reach: its full collections then scan only what requests create (a full
    collection over the startup heap stalled a worker for tens of milliseconds)."""
    import gc

    gc.collect()
    gc.freeze()


def __getattr__(name: str) -> FastAPI:
    """`server.app:app` for ASGI servers, built on first access (not at import)."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
