"""Download routes for export files: the current file of a dataset in a format, or a file of
a given snapshot (kept up to the configured number). Served from the control database's
distributions (never a path from the request) with ETag (the file's sha256), Last-Modified,
and HTTP range requests (206, resumable; Starlette's FileResponse), 304 on If-None-Match;
HEAD answers the same headers without the body (download managers ask it first)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select

from control import db
from control.models import CatalogDistribution
from lgsp.config import Settings

router = APIRouter(tags=["downloads"])


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _serve(request: Request, dist: CatalogDistribution | None) -> Response:
    settings = _settings(request)
    if dist is None:
        raise HTTPException(404, "no such export file")
    path = settings.home / dist.path
    if not path.is_file():
        raise HTTPException(404, "export file no longer kept")
    etag = f'"{dist.sha256}"'
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"etag": etag})
    filename = path.name
    return FileResponse(path, media_type=dist.media_type, filename=filename,
                        headers={"etag": etag, "x-lgsp-snapshot": str(dist.snapshot_id),
                                 "cache-control": "public, max-age=300"})


@router.api_route("/download/{dataset}/{fmt}", methods=["GET", "HEAD"])
def download_current(request: Request, dataset: str, fmt: str) -> Response:
    """The current export of `dataset` in format `fmt` (csv, csv-bom, parquet, ...)."""
    with db.session(_settings(request)) as s:
        dist = s.scalars(select(CatalogDistribution).where(
            CatalogDistribution.dataset_id == dataset, CatalogDistribution.format == fmt,
            CatalogDistribution.current)).first()
    return _serve(request, dist)


@router.api_route("/download/{dataset}/{snapshot_id}/{fmt}", methods=["GET", "HEAD"])
def download_snapshot(request: Request, dataset: str, snapshot_id: int, fmt: str) -> Response:
    """The export of one kept snapshot (a version) of `dataset`."""
    with db.session(_settings(request)) as s:
        dist = s.get(CatalogDistribution, f"{dataset}-{snapshot_id}-{fmt}")
    return _serve(request, dist)
