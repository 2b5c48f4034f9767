"""Lineage and versions of a catalogued dataset, read from what the catalogue recorded:

- `lineage()`: per publish, oldest first, source (connector, source and window of the raw
  run) -> raw run -> curated Iceberg snapshot -> the export files made from that snapshot
  (those still kept; `LGSP_OPENDATA_KEEP_SNAPSHOTS`);
- `versions()`: the curated table's Iceberg snapshots, newest first, each with its commit
  time, whether it is the current one and the formats exported from it.

CKAN's `package_show` carries both (extras `lineage` and `versions`, as JSON text) and DCAT
the versions (`dcat:hasVersion`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from catalog import catalogue
from control import db
from control.models import CatalogDistribution
from lgsp.config import Settings
from warehouse import iceberg


@dataclass
class LineageStep:
    run_id: str
    published_at: str
    connector: str
    source: dict[str, Any]
    raw_rows: int
    published_rows: int
    quality_score: float
    snapshot_id: int | None
    exports: list[dict[str, Any]] = field(default_factory=list)
    """[{format, path, sha256, byte_size, row_count}] of the files exported from the snapshot."""


@dataclass
class Version:
    snapshot_id: int
    committed_at: str
    current: bool
    exported_formats: list[str]


def _exports(settings: Settings, dataset: str) -> dict[int, list[CatalogDistribution]]:
    with db.session(settings) as s:
        rows = list(s.scalars(select(CatalogDistribution).where(
            CatalogDistribution.dataset_id == dataset).order_by(CatalogDistribution.format)))
        for r in rows:
            s.expunge(r)
    out: dict[int, list[CatalogDistribution]] = {}
    for r in rows:
        out.setdefault(r.snapshot_id, []).append(r)
    return out


def lineage(settings: Settings, dataset: str) -> list[LineageStep]:
    exports = _exports(settings, dataset)
    return [LineageStep(
        run_id=run.run_id, published_at=run.published_at.isoformat(), connector=run.connector,
        source=dict(run.source or {}), raw_rows=run.raw_rows, published_rows=run.published_rows,
        quality_score=run.quality_score, snapshot_id=run.snapshot_id,
        exports=[{"format": d.format, "path": d.path, "sha256": d.sha256,
                  "byte_size": d.byte_size, "row_count": d.row_count}
                 for d in exports.get(run.snapshot_id or -1, [])])
        for run in catalogue.runs(settings, dataset)]


def versions(settings: Settings, dataset: str) -> list[Version]:
    catalog = iceberg.load_catalog(settings)
    if not catalog.table_exists((iceberg.CURATED, dataset)):
        return []
    table = catalog.load_table((iceberg.CURATED, dataset))
    current = table.current_snapshot()
    exports = _exports(settings, dataset)
    return [Version(snapshot_id=snap.snapshot_id,
                    committed_at=datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC).isoformat(),
                    current=current is not None and snap.snapshot_id == current.snapshot_id,
                    exported_formats=[d.format for d in exports.get(snap.snapshot_id, [])])
            for snap in sorted(table.snapshots(), key=lambda s: s.timestamp_ms, reverse=True)]
