"""CKAN-compatible Action API (`/api/3/action/<name>`, and `/api/action/<name>`
as CKAN also answers and ckanapi calls), GET with query parameters or POST
with a JSON body, answered in CKAN's envelope (`help`, `success`, `result` | `error`) and
error shapes (404 "Not Found Error", 409 "Validation Error" {param: [msg]} and "Search Query
Error", 400 for an unknown action), so CKAN clients and harvesters read it as CKAN.

Packages are the open datasets of the catalogue (control database); resources are their
current export files; the DataStore is the current Parquet export (open columns only, as the
classification let them out), queried by DuckDB with bound parameters and checked names.
Package dicts also carry what CKAN does not: the quality score and freshness (extras); and
package_show the lineage and the Iceberg versions (extras `lineage`, `versions`: JSON text,
opendata.lineage).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from catalog import catalogue
from control.models import CatalogDataset, CatalogDistribution
from lgsp.config import Settings
from opendata import datastore
from opendata import vocabularies as vocab
from opendata.ckan_search import ParamError, SearchQueryError, search
from opendata.exports import current_distributions
from opendata.formats import FORMATS

router = APIRouter(tags=["ckan"])
CKAN_VERSION = "2.10.4"
FORMAT_LABELS = {"csv": "CSV", "csv-bom": "CSV", "parquet": "Parquet", "ndjson": "NDJSON",
                 "json": "JSON", "xlsx": "XLSX"}


class NotFound(LookupError):
    pass


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def organization_dict(entry: CatalogDataset, package_count: int | None = None) -> dict[str, Any]:
    org = {"id": entry.owner_slug, "name": entry.owner_slug, "title": entry.owner_vi,
           "display_name": entry.owner_vi, "description": entry.owner_en, "type": "organization",
           "state": "active", "is_organization": True, "approval_status": "approved",
           "image_url": "", "created": _iso(entry.created_at)}
    if package_count is not None:
        org["package_count"] = package_count
    return org


def group_dict(theme: str, package_count: int | None = None) -> dict[str, Any]:
    vi, en = vocab.THEME_TITLES.get(theme, (theme, theme))
    group = {"id": theme.lower(), "name": theme.lower(), "title": vi, "display_name": vi,
             "description": en, "type": "group", "state": "active", "is_organization": False,
             "image_url": "", "theme_uri": vocab.EU_THEME + theme}
    if package_count is not None:
        group["package_count"] = package_count
    return group


def resource_dict(base_url: str, dist: CatalogDistribution) -> dict[str, Any]:
    fmt = FORMATS[dist.format]
    return {
        "id": dist.id, "package_id": dist.dataset_id, "name": f"{dist.dataset_id}: {fmt.title}",
        "description": f"{fmt.title}, snapshot {dist.snapshot_id}, {dist.row_count:,} rows",
        "format": FORMAT_LABELS[dist.format], "mimetype": dist.media_type,
        "url": f"{base_url}download/{dist.dataset_id}/{dist.snapshot_id}/{dist.format}",
        "size": dist.byte_size, "hash": f"sha256:{dist.sha256}", "url_type": None,
        "created": _iso(dist.created_at), "last_modified": _iso(dist.created_at),
        "state": "active", "datastore_active": True, "position": list(FORMATS).index(dist.format),
        "snapshot_id": str(dist.snapshot_id), "row_count": dist.row_count,
    }


def package_dict(settings: Settings, base_url: str, entry: CatalogDataset) -> dict[str, Any]:
    runs = catalogue.runs(settings, entry.id)
    fresh = catalogue.freshness(settings, entry)
    dists = current_distributions(settings, entry.id)
    last = runs[-1] if runs else None
    licence = vocab.LICENCES.get(entry.licence)
    modified = _iso(fresh.last_publish) or _iso(entry.updated_at)
    extras = {
        "title_en": entry.title_en, "notes_en": entry.description_en, "theme": entry.theme,
        "update_frequency": entry.update_frequency,
        "quality_score": f"{last.quality_score:.2f}" if last else "",
        "last_publish": _iso(fresh.last_publish) or "", "overdue": str(fresh.overdue).lower(),
        "stale_open_data": str(fresh.stale_open_data).lower(),
        "snapshot_id": str(last.snapshot_id) if last and last.snapshot_id else "",
        "columns": " ".join(c["name"] for c in entry.schema if c["open"]),
    }
    return {
        "id": entry.id, "name": entry.id, "title": entry.title_vi, "notes": entry.description_vi,
        "type": "dataset", "state": "active", "private": False,
        "author": entry.owner_vi, "author_email": entry.contact, "maintainer": entry.owner_vi,
        "maintainer_email": entry.contact,
        "license_id": entry.licence, "license_title": licence[2] if licence else entry.licence,
        "license_url": licence[3] if licence else None, "isopen": True,
        "metadata_created": _iso(entry.created_at), "metadata_modified": modified,
        "version": extras["snapshot_id"] or None, "url": None,
        "owner_org": entry.owner_slug, "organization": organization_dict(entry),
        "groups": [group_dict(entry.theme)],
        "tags": [{"id": t, "name": t, "display_name": t, "state": "active", "vocabulary_id": None}
                 for t in entry.keywords],
        "num_tags": len(entry.keywords),
        "resources": [resource_dict(base_url, d) for d in dists], "num_resources": len(dists),
        "extras": [{"key": k, "value": v} for k, v in extras.items()],
        "quality_score": last.quality_score if last else None,
        "schema": [c for c in entry.schema if c["open"]],
    }


# ---------------------------------------------------------------------------- parameters
def _int(params: dict[str, Any], name: str, default: int, low: int = 0, high: int | None = None
         ) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ParamError(name, "Invalid integer") from None
    if value < low or (high is not None and value > high):
        raise ParamError(name, f"Must be between {low} and {high}" if high is not None
                         else "Must be a natural number")
    return value


def _list(params: dict[str, Any], name: str) -> list[str]:
    raw = params.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return [str(v) for v in raw]
    if isinstance(raw, str) and raw.startswith("["):
        try:
            value = json.loads(raw)
        except ValueError:
            raise ParamError(name, "Invalid JSON list") from None
        return [str(v) for v in value]
    return [v.strip() for v in str(raw).split(",") if v.strip()]


def _bool(params: dict[str, Any], name: str, default: bool) -> bool:
    raw = params.get(name, default)
    if isinstance(raw, bool):
        return raw
    return str(raw).lower() in ("true", "1", "yes")


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        raise ParamError(name, "Missing value")
    return str(value)


# ---------------------------------------------------------------------------- actions
def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _packages(request: Request) -> list[dict[str, Any]]:
    settings = _settings(request)
    base = str(request.base_url)
    return [package_dict(settings, base, e) for e in catalogue.entries(settings)]


def status_show(request: Request, params: dict[str, Any]) -> Any:
    return {"ckan_version": CKAN_VERSION, "site_title": "LGSP Open Data",
            "site_description": "Dữ liệu mở của tỉnh / the province's open data",
            "site_url": str(request.base_url).rstrip("/"), "locale_default": "vi",
            "extensions": ["datastore", "dcat"]}


def package_list(request: Request, params: dict[str, Any]) -> Any:
    names = [e.id for e in catalogue.entries(_settings(request))]
    offset = _int(params, "offset", 0)
    limit = _int(params, "limit", len(names) or 1, low=0)
    return names[offset:offset + limit]


def package_show(request: Request, params: dict[str, Any]) -> Any:
    name = _required(params, "id")
    settings = _settings(request)
    entry = catalogue.entry(settings, name)
    if entry is None or not entry.open_data:
        raise NotFound("Dataset not found")
    package = package_dict(settings, str(request.base_url), entry)
    from opendata.lineage import lineage, versions  # package_show only: reads Iceberg

    package["extras"] += [
        {"key": "lineage", "value": json.dumps([asdict(x) for x in lineage(settings, name)],
                                               ensure_ascii=False)},
        {"key": "versions", "value": json.dumps([asdict(v) for v in versions(settings, name)])}]
    return package


def package_search(request: Request, params: dict[str, Any]) -> Any:
    rows = _int(params, "rows", 10, high=1000)
    start = _int(params, "start", 0)
    facet_limit = _int(params, "facet.limit", 50, low=-1)
    return search(_packages(request), q=str(params.get("q") or ""), fq=str(params.get("fq") or ""),
                  sort=params.get("sort") or None, rows=rows, start=start,
                  facet_fields=_list(params, "facet.field"), facet_limit=facet_limit)


def _orgs(request: Request) -> dict[str, tuple[CatalogDataset, int]]:
    out: dict[str, tuple[CatalogDataset, int]] = {}
    for e in catalogue.entries(_settings(request)):
        first, n = out.get(e.owner_slug, (e, 0))
        out[e.owner_slug] = (first, n + 1)
    return out


def organization_list(request: Request, params: dict[str, Any]) -> Any:
    orgs = _orgs(request)
    names = sorted(orgs)
    if _bool(params, "all_fields", False):
        return [organization_dict(orgs[n][0], orgs[n][1]) for n in names]
    return names


def organization_show(request: Request, params: dict[str, Any]) -> Any:
    name = _required(params, "id")
    orgs = _orgs(request)
    if name not in orgs:
        raise NotFound("Organization not found")
    org = organization_dict(*orgs[name])
    if _bool(params, "include_datasets", False):
        org["packages"] = [p for p in _packages(request) if p["owner_org"] == name]
    return org


def group_list(request: Request, params: dict[str, Any]) -> Any:
    counts: dict[str, int] = {}
    for e in catalogue.entries(_settings(request)):
        counts[e.theme] = counts.get(e.theme, 0) + 1
    themes = sorted(counts, key=str.lower)
    if _bool(params, "all_fields", False):
        return [group_dict(t, counts[t]) for t in themes]
    return [t.lower() for t in themes]


def tag_list(request: Request, params: dict[str, Any]) -> Any:
    query = str(params.get("query") or "")
    tags = sorted({t for e in catalogue.entries(_settings(request)) for t in e.keywords})
    return [t for t in tags if query.lower() in t.lower()]


def _resource(request: Request, resource_id: str) -> CatalogDistribution:
    settings = _settings(request)
    for entry in catalogue.entries(settings):
        for dist in current_distributions(settings, entry.id):
            if dist.id == resource_id:
                return dist
    raise NotFound("Resource was not found.")


def resource_show(request: Request, params: dict[str, Any]) -> Any:
    return resource_dict(str(request.base_url), _resource(request, _required(params, "id")))


def datastore_search(request: Request, params: dict[str, Any]) -> Any:
    resource_id = _required(params, "resource_id")
    settings = _settings(request)
    dist = _resource(request, resource_id)
    parquet = next((d for d in current_distributions(settings, dist.dataset_id)
                    if d.format == "parquet"), None)
    if parquet is None:
        raise NotFound("Resource was not found.")
    filters = params.get("filters") or {}
    if isinstance(filters, str):
        try:
            filters = json.loads(filters)
        except ValueError:
            raise ParamError("filters", "Invalid JSON object") from None
    q = params.get("q") or ""
    if isinstance(q, str) and q.startswith("{"):
        try:
            q = json.loads(q)
        except ValueError:
            raise ParamError("q", "Invalid JSON object") from None
    result = datastore.search(
        settings.home / parquet.path, q=q, filters=filters, fields=_list(params, "fields"),
        sort=str(params.get("sort") or ""), limit=_int(params, "limit", 100, high=32000),
        offset=_int(params, "offset", 0), include_total=_bool(params, "include_total", True))
    result["resource_id"] = resource_id
    base = f"/api/3/action/datastore_search?resource_id={resource_id}"
    result["_links"] = {"start": base,
                        "next": f"{base}&offset={result['offset'] + result['limit']}"}
    return result


ACTIONS = {f.__name__: f for f in (
    status_show, package_list, package_show, package_search, organization_list,
    organization_show, group_list, tag_list, resource_show, datastore_search)}


def _envelope(request: Request, action: str, status: int, **body: Any) -> JSONResponse:
    help_url = f"{request.base_url}api/3/action/help_show?name={action}"
    return JSONResponse({"help": help_url, **body}, status_code=status)


@router.api_route("/api/3/action/{action}", methods=["GET", "POST"])
@router.api_route("/api/action/{action}", methods=["GET", "POST"], include_in_schema=False)
async def action_endpoint(request: Request, action: str) -> JSONResponse:
    if action not in ACTIONS:
        return _envelope(request, action, 400, success=False, error={
            "__type": "Bad request", "message": f"Bad request - Action name not known: {action}"})
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return _envelope(request, action, 400, success=False, error={
                    "__type": "Bad request", "message": "Bad request - JSON Error: invalid JSON"})
            if not isinstance(body, dict):
                return _envelope(request, action, 400, success=False, error={
                    "__type": "Bad request",
                    "message": "Bad request - JSON Error: Request data JSON decoded to "
                               f"{type(body).__name__} but it needs to be a dictionary."})
            params.update(body)
    try:
        from starlette.concurrency import run_in_threadpool

        result = await run_in_threadpool(ACTIONS[action], request, params)
    except NotFound as err:
        return _envelope(request, action, 404, success=False,
                         error={"__type": "Not Found Error", "message": f"Not found: {err}"})
    except ParamError as err:
        return _envelope(request, action, 409, success=False,
                         error={"__type": "Validation Error", err.param: [err.message]})
    except SearchQueryError as err:
        return _envelope(request, action, 409, success=False,
                         error={"__type": "Search Query Error", "message": f"Search Query Error: {err}"})
    return _envelope(request, action, 200, success=True, result=result)
