"""The agency API's HTTP routes under /api/v1 (thin: each asks api.grants.resolve, plans
with api.odata, reads with api.data, answers and audits).

- POST /token                      OAuth2 client credentials -> short-lived JWT
- GET  /jwks.json                  the token signing key (public)
- GET  /datasets                   the datasets this client may use, with granted schemas
- GET  /datasets/{id}              OData query ($filter $select $orderby $top $skip $count
                                   $skiptoken), `as_of` time travel
- GET  /datasets/{id}/key/{key}    one record by primary key
- GET  /datasets/{id}/bulk        every row in scope, streamed as NDJSON or CSV
- GET  /persons/{personal_id}      a person's linked record (person_linked)
- GET  /audit/who-accessed/{id}    for a client with the `dpo` role
- GET  /health, /ready             liveness, readiness (control database, Iceberg catalog)
Every data request states a purpose (`purpose` query parameter or `LGSP-Purpose` header),
is answered from one snapshot (`LGSP-Snapshot-Id` header) and is audited with the SHA-256
of the response body.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode

import orjson
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api import (
    audit,
    audit_journal,
    audit_writer,
    auth_cache,
    clients,
    data,
    grants,
    odata,
    ratelimit,
    tokens,
)
from api.models import ApiClient
from api.problems import Problem
from catalog.spec import DatasetSpec, load_specs
from control import db
from lgsp.config import Settings
from warehouse.duck import quote_ident

PROBLEM_SCHEMA = {"type": "object", "required": ["type", "title", "status"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "instance": {"type": "string"}}}
_PROBLEM = {"description": "Problem details (RFC 9457)",
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}
PROBLEMS: dict[int | str, dict[str, Any]] = {code: _PROBLEM for code in (400, 401, 403, 404, 429, 503)}
router = APIRouter(prefix="/api/v1", tags=["agency API"], responses=PROBLEMS)
Purpose = Annotated[str | None, Query(description="the purpose of this request (or LGSP-Purpose header)")]
AsOf = Annotated[str | None, Query(description="ISO 8601 time: answer from the snapshot in force then")]
Filter = Annotated[str | None, Query(alias="$filter", description="OData v4 $filter")]
Select = Annotated[str | None, Query(alias="$select", description="columns, comma-separated")]
SNAPSHOT_HEADER = "LGSP-Snapshot-Id"
PURPOSE_HEADER = "LGSP-Purpose"
_DENIED = {
    "not_granted": "This dataset is not granted to the client",
    "unknown_dataset": "This dataset is not granted to the client",
    "grant_expired": "The grant on this dataset has expired",
    "grant_not_approved": "The grant on personal data awaits the owning agency's approval",
    "grant_refused": "The owning agency refused this grant",
    "purpose_not_granted": "The stated purpose is not granted for this dataset",
    "no_columns": "No granted column of this dataset exists any more",
    "scope_invalid": "The grant's row scope names a column that no longer exists",
}


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


@lru_cache(maxsize=4)
def _specs(specs_dir: Path) -> dict[str, DatasetSpec]:
    return {s.id: s for s in load_specs(specs_dir)}


_schemas: dict[str, dict[str, str]] = {}


def _schema(spec: DatasetSpec) -> dict[str, str]:
    """column -> classification, in the dataset's order (what grants.resolve needs)."""
    found = _schemas.get(spec.id)
    if found is None or list(found) != [c.name for c in spec.columns]:
        found = _schemas[spec.id] = {c.name: c.classification for c in spec.columns}
    return found


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> tuple[Response, bytes]:
    raw = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS, default=str)
    return Response(raw, status_code=status, media_type="application/json", headers=headers), raw


# ---- authentication -------------------------------------------------------------------

_TOKEN_BODY = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
    "schema": {"type": "object", "required": ["grant_type"], "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": {"type": "string"}, "client_secret": {"type": "string"}}}}}}}


@router.post("/token", summary="OAuth2 client credentials: a short-lived access token",
             openapi_extra=_TOKEN_BODY)
async def token(request: Request) -> Response:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            cid, _, secret = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
        except ValueError:
            cid, secret = "", ""
        form.setdefault("client_id", cid)
        form.setdefault("client_secret", secret)
    if form.get("grant_type") != "client_credentials":
        raise Problem(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported",
                      error="unsupported_grant_type")
    settings = _settings(request)
    with db.session(settings) as s:
        client = clients.authenticate(s, form.get("client_id", ""), form.get("client_secret", ""))
        if client is None:
            raise Problem(401, "invalid_client", "Client authentication failed", error="invalid_client",
                          headers={"WWW-Authenticate": 'Basic realm="lgsp"'})
        cid = client.id
    access_token, ttl = tokens.issue(settings, cid)
    await audit_writer.append_async(settings, actor=cid, action="token.issue")
    response, _ = _json({"access_token": access_token, "token_type": "Bearer", "expires_in": ttl},
                        headers={"Cache-Control": "no-store"})
    return response


@router.get("/jwks.json", summary="The public key access tokens are signed with")
def jwks(request: Request) -> dict[str, Any]:
    return tokens.jwks(_settings(request))


def _client_id(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise Problem(401, "unauthorized", "A bearer access token is required",
                      "POST client credentials to /api/v1/token first",
                      headers={"WWW-Authenticate": 'Bearer realm="lgsp"'})
    try:
        return auth_cache.client_id(_settings(request), auth[7:].strip())
    except tokens.TokenError as err:
        raise Problem(401, "invalid_token", "The access token is not valid", str(err),
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None


def _active_client(settings: Settings, client_id: str) -> ApiClient:
    """The client as committed now (cached per worker until the control-plane version moves:
    revocation is immediate), within its rate limit."""
    client = auth_cache.client(settings, client_id)
    if client is None or client.state != "active":
        raise Problem(401, "client_revoked", "The client is revoked",
                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    wait = ratelimit.take(client.id, client.rate_per_minute)
    if wait is not None:
        raise Problem(429, "rate_limited", "Too many requests",
                      f"the client may make {client.rate_per_minute} requests per minute",
                      headers={"Retry-After": str(wait)})
    return client


# ---- metadata -------------------------------------------------------------------------

@router.get("/datasets", summary="The datasets this client may use, with their schemas as granted")
def datasets(request: Request) -> Response:
    settings = _settings(request)
    client_id = _client_id(request)
    specs = _specs(settings.specs_dir)
    out = []
    now = datetime.now(UTC)
    client = _active_client(settings, client_id)
    for g in client.grants:
        spec = specs.get(g.dataset_id)
        if spec is None or g.revoked_at is not None:
            continue
        schema = {c.name: c.classification for c in spec.columns}
        usable = {p: grants.resolve(client, spec.id, p, now, schema) for p in g.purposes}
        ok = [a for a in usable.values() if a.allowed]
        if not ok:
            continue
        access = ok[0]
        out.append({
            "id": spec.id, "title": {"vi": spec.title.vi, "en": spec.title.en},
            "owner": spec.owner.agency.en, "primary_key": spec.primary_key,
            "purposes": [p for p, a in usable.items() if a.allowed], "legal_basis": g.legal_basis,
            "expires_at": grants._utc(g.expires_at).isoformat(),
            "rows": "all" if not g.row_scope else "scoped",
            "columns": [{"name": c, "type": spec.column(c).type,
                         "classification": spec.column(c).classification,
                         "mask": access.masks.get(c), "filterable": c in access.clear_columns,
                         "description": spec.column(c).description.en} for c in access.columns],
        })
    audit_writer.append(settings, actor=client_id, action="metadata.datasets", row_count=len(out))
    response, _ = _json({"value": out})
    return response


# ---- data -----------------------------------------------------------------------------

def _purpose(request: Request) -> str | None:
    return request.query_params.get("purpose") or request.headers.get(PURPOSE_HEADER)


def _as_of(request: Request) -> datetime | None:
    text = request.query_params.get("as_of")
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise Problem(400, "invalid_as_of", "as_of is not an ISO 8601 time", f"as_of={text!r}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _decide(settings: Settings, client_id: str, dataset: str, purpose: str | None
            ) -> tuple[DatasetSpec | None, grants.Access]:
    """The one access decision of a data request (api/grants.resolve over the cached client)."""
    spec = _specs(settings.specs_dir).get(dataset)
    client = _active_client(settings, client_id)
    if spec is None:
        return None, grants.Access(False, "unknown_dataset")
    return spec, auth_cache.access(client, dataset, purpose, datetime.now(UTC), _schema(spec))


def _denied(access: grants.Access, dataset: str, purpose: str | None) -> Problem:
    return Problem(403, access.reason, _DENIED.get(access.reason, "Access denied"),
                   f"dataset {dataset!r}, purpose {purpose!r}")


def _access(request: Request, settings: Settings, client_id: str, dataset: str, purpose: str | None,
            action: str) -> tuple[DatasetSpec, grants.Access]:
    """`_decide` for sync routes: a denial is audited and answered 403."""
    spec, access = _decide(settings, client_id, dataset, purpose)
    if not access.allowed or spec is None:
        audit_writer.append(settings, actor=client_id, action=f"{action}.denied", purpose=purpose,
                            dataset=dataset, details={"reason": access.reason})
        raise _denied(access, dataset, purpose)
    return spec, access


def _invalid(err: odata.ODataError) -> Problem:
    """400 naming the option (and, for a literal that does not fit, its column and the type
    expected: the same problem whichever store would have answered)."""
    return Problem(400, "invalid_query", "The query is not valid", str(err), **err.members)


def _fetch(spec: DatasetSpec, access: grants.Access, plan_for: Any, src: data.Source,
           extra_where: str, extra_params: tuple[Any, ...]) -> tuple[odata.Plan, data.Result]:
    try:
        plan = plan_for(access, spec, src.dialect.name)
    except odata.ODataError as err:
        raise _invalid(err) from None
    try:
        return plan, data.run(spec, access, plan, src, extra_where=extra_where, extra_params=extra_params)
    except data.QueryTimeout as err:
        raise Problem(503, "query_timeout", "The query took too long", str(err)) from None
    except data.ValueMismatch as err:
        raise Problem(400, "invalid_query", "A value in the query does not fit its column",
                      str(err)) from None


async def _answer(request: Request, *, dataset: str, plan_for: Any, extra_where: str = "TRUE",
                  extra_params: tuple[Any, ...] = (), action: str, single: bool = False,
                  query_text: str | None = None) -> Response:
    """A data request end to end: token, the one access decision, the store, the answer,
    its audit entry committed before the response leaves. A lookup on the SQLite serving
    copy (microseconds) runs on the event loop; anything slower in a worker thread."""
    settings = _settings(request)
    client_id = _client_id(request)
    purpose = _purpose(request)
    spec, access = _decide(settings, client_id, dataset, purpose)
    if not access.allowed or spec is None:
        await audit_writer.append_async(settings, actor=client_id, action=f"{action}.denied",
                                        purpose=purpose, dataset=dataset,
                                        details={"reason": access.reason})
        raise _denied(access, dataset, purpose)
    as_of = _as_of(request)
    src = data.source(settings, spec, as_of)
    if src is None:
        raise Problem(404, "no_snapshot", "Nothing was published for this dataset at that time")
    if single and src.kind == "serving":
        plan, result = _fetch(spec, access, plan_for, src, extra_where, extra_params)
    else:
        plan, result = await run_in_threadpool(_fetch, spec, access, plan_for, src, extra_where,
                                               extra_params)
    rows = [dict(zip(result.columns, r, strict=True)) for r in result.rows]
    headers = {SNAPSHOT_HEADER: str(src.snapshot_id)}
    if single:
        if not rows:
            raise Problem(404, "not_found", "No such record in the client's rows",
                          headers=headers)
        body: Any = rows[0]
    else:
        body = {"@odata.context": f"/api/v1/datasets/{dataset}", "value": rows}
        if result.count is not None:
            body["@odata.count"] = result.count
        if result.last_key is not None:
            params = {k: v for k, v in request.query_params.items() if k not in ("$skiptoken", "$skip")}
            params["$skiptoken"] = odata.encode_skiptoken(result.last_key)
            body["@odata.nextLink"] = f"/api/v1/datasets/{dataset}?{urlencode(params)}"
    response, raw = _json(body, headers=headers)
    await audit_writer.append_async(
        settings, actor=client_id, action=action, purpose=purpose, dataset=dataset,
        query=query_text or plan.normalised, snapshot_id=src.snapshot_id, row_count=len(rows),
        response_sha256=hashlib.sha256(raw).hexdigest(), personal_ids=result.subjects,
        details={"as_of": as_of.isoformat()} if as_of else None)
    return response


@router.get("/datasets/{dataset}", summary="Query a dataset (OData v4 system query options)")
async def query(request: Request, dataset: str, purpose: Purpose = None, as_of: AsOf = None,
          filter_: Filter = None, select: Select = None,
          orderby: Annotated[str | None, Query(alias="$orderby")] = None,
          top: Annotated[str | None, Query(alias="$top")] = None,
          skip: Annotated[str | None, Query(alias="$skip")] = None,
          count: Annotated[str | None, Query(alias="$count")] = None,
          skiptoken: Annotated[str | None, Query(alias="$skiptoken")] = None) -> Response:
    options = {k: v for k, v in request.query_params.items() if k.startswith("$")}
    return await _answer(request, dataset=dataset, action="query",
                         plan_for=lambda access, spec, dialect: odata.plan(access, options, spec,
                                                                           dialect))


def path_params(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


_LOOKUP_QUERY = [
    {"name": "purpose", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "the purpose of this request (or LGSP-Purpose header)"},
    {"name": "as_of", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "ISO 8601 time: answer from the snapshot in force then"}]
"""The lookups' parameters are documented in the OpenAPI document and read from the request
(`request.path_params`, `_purpose`, `_as_of`), not declared as function parameters:
measured, FastAPI's per-parameter solving cost more CPU than the whole SQLite lookup."""


@router.get("/datasets/{dataset}/key/{key}", summary="One record by its primary key",
            openapi_extra={"parameters": [*path_params("dataset", "key"), *_LOOKUP_QUERY]})
async def by_key(request: Request) -> Response:
    dataset, key = request.path_params["dataset"], request.path_params["key"]

    def plan_for(access: grants.Access, spec: DatasetSpec, dialect: str) -> odata.Plan:
        if len(spec.primary_key) != 1 or spec.primary_key[0] not in access.clear_columns:
            raise odata.ODataError("key", "this dataset's key is not granted in clear: look records up "
                                          "by a query, or persons by /persons/{personal_id}")
        return odata.Plan(select=list(access.columns), top=1)

    spec = _specs(_settings(request).specs_dir).get(dataset)
    column = spec.primary_key[0] if spec else "?"
    return await _answer(request, dataset=dataset, action="lookup", plan_for=plan_for, single=True,
                         extra_where=f"{quote_ident(column)} = ?" if spec else "FALSE",
                         extra_params=(key,), query_text=f"key={column}")


PERSON_DATASET = "person_linked"


@router.get("/persons/{personal_id}", summary="A person's record across the registries (person_linked)",
            openapi_extra={"parameters": [*path_params("personal_id"), *_LOOKUP_QUERY]})
async def person(request: Request) -> Response:
    personal_id = request.path_params["personal_id"]

    def plan_for(access: grants.Access, spec: DatasetSpec, dialect: str) -> odata.Plan:
        if "personal_id" not in access.columns:
            raise odata.ODataError("personal_id", "the grant does not include the personal ID")
        return odata.Plan(select=list(access.columns), top=1)

    # the caller knows the full ID (the citizen gave it): matched exactly, kept out of the log
    return await _answer(request, dataset=PERSON_DATASET, action="person", plan_for=plan_for,
                         single=True, extra_where='"personal_id" = ?',
                         extra_params=(personal_id.strip(),), query_text="personal_id=<keyed>")


@router.get("/datasets/{dataset}/bulk", summary="Every row the client may read, streamed (NDJSON or CSV)")
def bulk(request: Request, dataset: str, purpose: Purpose = None, as_of: AsOf = None,
         filter_: Filter = None, select: Select = None,
         format: Annotated[Literal["ndjson", "csv"], Query(description="ndjson or csv")] = "ndjson",
         ) -> Response:
    import csv
    import io

    from fastapi.responses import StreamingResponse

    fmt = request.query_params.get("format", "ndjson")
    if fmt not in ("ndjson", "csv"):
        raise Problem(400, "invalid_format", "format must be ndjson or csv", f"format={fmt!r}")
    options = {k: v for k, v in request.query_params.items() if k in ("$select", "$filter")}
    settings = _settings(request)
    client_id = _client_id(request)
    purpose = _purpose(request)
    spec, access = _access(request, settings, client_id, dataset, purpose, "bulk")
    try:
        plan = odata.plan(access, options, spec)
    except odata.ODataError as err:
        raise _invalid(err) from None
    snap = data.snapshot(settings, dataset, _as_of(request))
    if snap is None:
        raise Problem(404, "no_snapshot", "Nothing was published for this dataset at that time")

    def body() -> Iterator[bytes]:
        digest, rows, people = hashlib.sha256(), 0, set()
        for i, (names, batch) in enumerate(data.stream(settings, spec, access, plan, snap,
                                                        people.update)):
            if fmt == "ndjson":
                chunk = b"".join(orjson.dumps(dict(zip(names, r, strict=True)), default=str) + b"\n"
                                 for r in batch)
            else:
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\r\n")
                if i == 0:
                    w.writerow(names)
                w.writerows(batch)
                chunk = buf.getvalue().encode("utf-8")
            digest.update(chunk)
            rows += len(batch)
            yield chunk
        audit_writer.append(settings, actor=client_id, action="bulk", purpose=purpose, dataset=dataset,
                            query=f"{plan.normalised}&format={fmt}", snapshot_id=snap.id, row_count=rows,
                            response_sha256=digest.hexdigest(), personal_ids=people)

    media = "application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8"
    return StreamingResponse(body(), media_type=media, headers={SNAPSHOT_HEADER: str(snap.id)})


@router.get("/audit/who-accessed/{personal_id}",
            summary="For the data protection officer: which client read this person's record")
def who_accessed(request: Request, personal_id: str) -> Response:
    settings = _settings(request)
    client_id = _client_id(request)
    client = _active_client(settings, client_id)
    if "dpo" not in (client.roles or []):
        audit_writer.append(settings, actor=client_id, action="audit.who_accessed.denied")
        raise Problem(403, "not_dpo", "Only a data protection officer's client may ask this")
    audit_journal.seal_all(settings)  # every worker's journal first: the log up to now
    with db.session(settings) as s:
        found = audit.who_accessed(s, settings, personal_id)
    audit_writer.append(settings, actor=client_id, action="audit.who_accessed",
                        personal_ids=[personal_id], row_count=len(found))
    response, _ = _json({"value": [{"entry": a.seq, "at": a.at, "client": a.client, "purpose": a.purpose,
                                    "dataset": a.dataset, "action": a.action} for a in found]})
    return response


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the control database and the Iceberg catalog answer")
def ready(request: Request) -> dict[str, str]:
    from sqlalchemy import text

    settings = _settings(request)
    try:
        with db.session(settings) as s:
            s.execute(text("SELECT 1"))
        data._catalog(settings).list_namespaces()
    except Exception as err:  # noqa: BLE001 - any failure means not ready
        raise Problem(503, "not_ready", "A dependency does not answer", type(err).__name__) from None
    return {"status": "ready"}
