"""SQLAlchemy 2.0 models of the control database (one metadata, one Alembic history).

Table names carry their concern as a prefix: `catalog_*` for the open-data catalogue
(this module), `api_*` for the agency API (clients, grants, audit: added by its issue in a
new migration, in a module of its own that imports `Base` from here).

The catalogue tables:
- `catalog_datasets`: one row per spec, derived from it (titles, owner, licence, schema with
  column descriptions and classifications...) and refreshed on every sync.
- `catalog_runs`: every published run: quality score and counts (the quality history) and
  the lineage from source to snapshot (connector, raw run, raw rows, curated snapshot).
- `catalog_distributions`: every export file written (format, path, size, rows, sha256, the
  snapshot it came from); `current` marks the files of the latest export; older snapshots'
  files are kept up to the configured number, then deleted together with their rows.
- `catalog_export_refusals`: exports the classification refused (which column, why, how many
  rows): the reason open data is missing is itself public.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class CatalogDataset(Base):
    __tablename__ = "catalog_datasets"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title_vi: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    description_vi: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    owner_vi: Mapped[str] = mapped_column(Text)
    owner_en: Mapped[str] = mapped_column(Text)
    owner_slug: Mapped[str] = mapped_column(String(200), index=True)
    contact: Mapped[str | None] = mapped_column(Text, nullable=True)
    theme: Mapped[str] = mapped_column(String(100))
    keywords: Mapped[list[Any]] = mapped_column(JSON)
    licence: Mapped[str] = mapped_column(String(100))
    open_data: Mapped[bool] = mapped_column(Boolean, index=True)
    update_frequency: Mapped[str] = mapped_column(String(100))
    max_age_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """How old the last publish may be before the dataset counts as overdue."""
    schema: Mapped[list[Any]] = mapped_column(JSON)
    """[{name, type, classification, description: {vi, en}, open: bool}]"""
    spec_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CatalogRun(Base):
    __tablename__ = "catalog_runs"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("catalog_datasets.id", ondelete="CASCADE"),
                                            primary_key=True)
    run_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    connector: Mapped[str] = mapped_column(String(100))
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The raw run manifest's `source` and `window` (lineage: where the rows came from)."""
    raw_rows: Mapped[int] = mapped_column(BigInteger)
    published_rows: Mapped[int] = mapped_column(BigInteger)
    quarantined_rows: Mapped[int] = mapped_column(BigInteger)
    total_rows: Mapped[int] = mapped_column(BigInteger)
    quality_score: Mapped[float] = mapped_column(Float)
    snapshot_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)


class CatalogDistribution(Base):
    __tablename__ = "catalog_distributions"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    """<dataset>-<snapshot>-<format>: stable, so a resource URL names one exact file."""
    dataset_id: Mapped[str] = mapped_column(ForeignKey("catalog_datasets.id", ondelete="CASCADE"),
                                            index=True)
    snapshot_id: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(40))
    media_type: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    """Relative to LGSP_HOME."""
    byte_size: Mapped[int] = mapped_column(BigInteger)
    row_count: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current: Mapped[bool] = mapped_column(Boolean, index=True)


class CatalogExportRefusal(Base):
    __tablename__ = "catalog_export_refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("catalog_datasets.id", ondelete="CASCADE"),
                                            index=True)
    snapshot_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    findings: Mapped[list[Any]] = mapped_column(JSON)
    """[{column, kind, rows}] - never the values themselves."""


# The agency API's tables live in their own module on this metadata; imported here so that
# every user of `Base.metadata` (Alembic, the migration tests) sees them.
from api import models as _api_models  # noqa: E402,F401
