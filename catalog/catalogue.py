"""The catalogue in the control database, derived from the specs and the run history.

`sync_dataset(spec, settings)` upserts the dataset's entry (titles, descriptions, owner,
theme, keywords, licence, schema with column descriptions and classifications, update
frequency) and imports the publish history (`quality/<id>/history.jsonl`, written by
publish) into `catalog_runs` with the lineage of each run (connector, source and window from
the raw run's manifest, the curated snapshot it made). Idempotent: run it after every
publish. Reads (`entry`, `runs`, `freshness`) are plain functions the CKAN API, DCAT and the
portal share.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from catalog.spec import DatasetSpec
from control import db
from control.models import CatalogDataset, CatalogRun
from lgsp.config import Settings
from opendata import vocabularies as vocab
from opendata.classification import may_leave


def _spec_sha256(spec: DatasetSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def _schema(spec: DatasetSpec) -> list[dict[str, object]]:
    return [{"name": c.name, "type": c.type, "classification": c.classification,
             "description": {"vi": c.description.vi, "en": c.description.en},
             "required": c.required, "open": spec.open_data and may_leave(c)}
            for c in spec.columns]


def _history(settings: Settings, dataset: str) -> list[dict]:  # type: ignore[type-arg]
    path = settings.quality_dir / dataset / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _manifest(settings: Settings, dataset: str, run_id: str) -> dict:  # type: ignore[type-arg]
    path = settings.raw_dir / dataset / run_id / "_manifest.json"
    return json.loads(path.read_text("utf-8")) if path.exists() else {}


def _snapshot_times(settings: Settings, dataset: str) -> dict[int, datetime]:
    from warehouse import iceberg

    catalog = iceberg.load_catalog(settings)
    if not catalog.table_exists((iceberg.CURATED, dataset)):
        return {}
    table = catalog.load_table((iceberg.CURATED, dataset))
    return {s.snapshot_id: datetime.fromtimestamp(s.timestamp_ms / 1000, UTC)
            for s in table.snapshots()}


def _published_at(manifest: dict, run_id: str, snapshot_at: datetime | None  # type: ignore[type-arg]
                  ) -> datetime:
    """When the run's snapshot was committed; else when its extract finished."""
    if snapshot_at:
        return snapshot_at
    if manifest.get("finished_at"):
        return datetime.fromisoformat(manifest["finished_at"])
    try:  # run ids start with a UTC timestamp (warehouse.raw_zone.new_run_id)
        return datetime.strptime(run_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def sync_dataset(spec: DatasetSpec, settings: Settings) -> None:
    now = datetime.now(UTC)
    _code, max_age = vocab.frequency(spec.update_frequency)
    with db.session(settings) as s:
        row = s.get(CatalogDataset, spec.id)
        values = dict(
            title_vi=spec.title.vi, title_en=spec.title.en,
            description_vi=spec.description.vi, description_en=spec.description.en,
            owner_vi=spec.owner.agency.vi, owner_en=spec.owner.agency.en,
            owner_slug=vocab.slug(spec.owner.agency.en), contact=spec.owner.contact,
            theme=vocab.theme_code(spec.theme), keywords=list(spec.keywords), licence=spec.licence,
            open_data=spec.open_data, update_frequency=spec.update_frequency,
            max_age_days=max_age, schema=_schema(spec), spec_sha256=_spec_sha256(spec),
            updated_at=now)
        if row is None:
            s.add(CatalogDataset(id=spec.id, created_at=now, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        s.flush()
        known = set(s.scalars(select(CatalogRun.run_id).where(CatalogRun.dataset_id == spec.id)))
        history = [h for h in _history(settings, spec.id) if h["run_id"] not in known]
        times = _snapshot_times(settings, spec.id) if history else {}
        for h in history:
            if h["run_id"] in known:
                continue
            manifest = _manifest(settings, spec.id, h["run_id"])
            source = manifest.get("source") or {}
            s.add(CatalogRun(
                dataset_id=spec.id, run_id=h["run_id"],
                published_at=_published_at(manifest, h["run_id"],
                                           times.get(h.get("curated_snapshot_id") or -1)),
                connector=str(source.get("connector") or spec.source.connector),
                source={"source": source, "window": manifest.get("window")},
                raw_rows=int(h.get("raw_rows") or 0), published_rows=int(h["published_rows"]),
                quarantined_rows=int(h["quarantined_rows"]),
                total_rows=int(h["curated_rows_total"]), quality_score=float(h["quality_score"]),
                snapshot_id=h.get("curated_snapshot_id")))
            known.add(h["run_id"])


@dataclass(frozen=True)
class Freshness:
    last_publish: datetime | None
    age_days: float | None
    overdue: bool
    """Older than the update frequency allows."""
    stale_open_data: bool
    """Open data older than three months (Decree 47/2020)."""


def entry(settings: Settings, dataset: str) -> CatalogDataset | None:
    with db.session(settings) as s:
        return s.get(CatalogDataset, dataset)


def entries(settings: Settings, open_only: bool = True) -> list[CatalogDataset]:
    with db.session(settings) as s:
        query = select(CatalogDataset).order_by(CatalogDataset.id)
        if open_only:
            query = query.where(CatalogDataset.open_data)
        return list(s.scalars(query))


def runs(settings: Settings, dataset: str) -> list[CatalogRun]:
    """Publish history, oldest first: the quality score over time and the lineage."""
    with db.session(settings) as s:
        return list(s.scalars(select(CatalogRun).where(CatalogRun.dataset_id == dataset)
                              .order_by(CatalogRun.published_at, CatalogRun.run_id)))


def freshness(settings: Settings, dataset: CatalogDataset, now: datetime | None = None) -> Freshness:
    history = runs(settings, dataset.id)
    if not history:
        return Freshness(None, None, False, False)
    last = history[-1].published_at
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:  # SQLite gives naive datetimes back; they are UTC
        now = now.replace(tzinfo=UTC)
    age = (now - last).total_seconds() / 86400
    overdue = dataset.max_age_days is not None and age > dataset.max_age_days
    return Freshness(last, age, overdue,
                     dataset.open_data and age > vocab.OPEN_DATA_MAX_AGE_DAYS)
