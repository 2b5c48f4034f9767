"""Endpoints for the load benchmark only, mounted when LGSP_BENCH_ENDPOINTS=1 (never by
default; a test proves they are absent): the framework's ceiling and the cost of auth and
audit, measured on the same server as the real routes.

- GET /bench/constant: a small constant JSON, no I/O;
- GET /bench/lookup/{dataset}/{key}: the store lookup of /api/v1/datasets/{dataset}/key/{key}
  (same store choice, same SQL builder) returning every column: no token, no grant, no audit.
"""

from __future__ import annotations

import os

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api import data, grants, odata
from warehouse.duck import quote_ident

ENV = "LGSP_BENCH_ENDPOINTS"
router = APIRouter(prefix="/bench", include_in_schema=False)
_CONSTANT = orjson.dumps({"status": "ok", "service": "lgsp", "value": 42})


def enabled() -> bool:
    return os.environ.get(ENV) == "1"


@router.get("/constant")
async def constant() -> Response:
    return Response(_CONSTANT, media_type="application/json")


@router.get("/lookup/{dataset}/{key}")
async def lookup(request: Request) -> Response:
    """Parameters read as api.routes.by_key reads them (the same framework cost)."""
    from api.routes import SNAPSHOT_HEADER, _specs

    dataset, key = request.path_params["dataset"], request.path_params["key"]

    settings = request.app.state.settings
    spec = _specs(settings.specs_dir).get(dataset)
    if spec is None or len(spec.primary_key) != 1:
        return Response(b'{"error":"no such dataset"}', status_code=404, media_type="application/json")
    columns = tuple(c.name for c in spec.columns)
    everything = grants.Access(True, "bench", None, columns, {}, "TRUE", ())
    src = data.source(settings, spec, None)
    if src is None:
        return Response(b'{"error":"nothing published"}', status_code=404, media_type="application/json")
    plan = odata.Plan(select=list(columns), top=1)
    where = f"{quote_ident(spec.primary_key[0])} = ?"
    if src.kind == "serving":
        result = data.run(spec, everything, plan, src, extra_where=where, extra_params=(key,))
    else:
        result = await run_in_threadpool(data.run, spec, everything, plan, src, extra_where=where,
                                         extra_params=(key,))
    if not result.rows:
        return Response(b'{"error":"not found"}', status_code=404, media_type="application/json")
    body = orjson.dumps(dict(zip(result.columns, result.rows[0], strict=True)), default=str)
    return Response(body, media_type="application/json", headers={SNAPSHOT_HEADER: str(src.snapshot_id)})
