"""Exports of an open dataset's current snapshot in every registered format.

`export_dataset(spec, settings)`:
1. takes the current Iceberg snapshot of the curated table (its id names the export);
2. writes the open rows - the columns `opendata.classification` lets out, in the snapshot's
   stored order (insertion order preserved: the same snapshot gives the same bytes; a sort
   by key cost the Parquet step 3x under its memory limit) - as Parquet into a temporary
   folder, and scans them for identifier-shaped values;
   a finding refuses the export (recorded in the control database, nothing published);
3. writes every other format from that file (`opendata.formats`), then `datapackage.json`
   (Frictionless) with each file's size, row count and sha256, and `export.json`;
4. renames the folder to `LGSP_HOME/opendata/<dataset>/<snapshot>/` in one step (a killed
   export leaves only a `.tmp-` folder), records the files in the control database as the
   current distributions, and removes the exports of snapshots beyond `keep` (default
   `LGSP_OPENDATA_KEEP_SNAPSHOTS`, 3).
An export of a snapshot that already exists with the same open columns is not redone; a spec
change (a column's classification) exports the snapshot again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select, update

from catalog import catalogue
from catalog.spec import DatasetSpec
from control import db
from control.models import CatalogDistribution, CatalogExportRefusal
from lgsp.config import Settings
from opendata.classification import ExportRefused, check_open_rows, open_columns
from opendata.datapackage import datapackage
from opendata.formats import FORMATS
from warehouse import duck, iceberg
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

MANIFEST = "export.json"
DEFAULT_KEEP = int(os.environ.get("LGSP_OPENDATA_KEEP_SNAPSHOTS", "3"))


class NothingToExport(RuntimeError):
    """The dataset has no published snapshot yet."""


@dataclass
class ExportFile:
    format: str
    path: str
    """Relative to LGSP_HOME."""
    media_type: str
    byte_size: int
    row_count: int
    sha256: str


@dataclass
class ExportManifest:
    dataset: str
    snapshot_id: int
    snapshot_at: str
    exported_at: str
    row_count: int
    columns: list[str]
    files: list[ExportFile] = field(default_factory=list)

    @classmethod
    def load(cls, folder: Path) -> ExportManifest:
        data = json.loads((folder / MANIFEST).read_text("utf-8"))
        data["files"] = [ExportFile(**f) for f in data["files"]]
        return cls(**data)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_dir(settings: Settings, dataset: str) -> Path:
    return settings.opendata_dir / dataset


def current_snapshot(settings: Settings, dataset: str) -> tuple[int, datetime, list[str]] | None:
    """(snapshot id, commit time, data files) of the curated table, or None if unpublished."""
    catalog = iceberg.load_catalog(settings)
    if not catalog.table_exists((iceberg.CURATED, dataset)):
        return None
    table = catalog.load_table((iceberg.CURATED, dataset))
    snap = table.current_snapshot()
    if snap is None:
        return None
    files = [iceberg.local_path(p) for p in iceberg.data_files(table, snap.snapshot_id)]
    return snap.snapshot_id, datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC), files


def export_dataset(spec: DatasetSpec, settings: Settings, keep: int | None = None,
                   formats: list[str] | None = None) -> ExportManifest:
    """Export the current snapshot of an open dataset (see the module docstring)."""
    open_columns(spec)  # refuses a dataset that is not open data
    found = current_snapshot(settings, spec.id)
    if found is None:
        raise NothingToExport(f"{spec.id}: nothing published yet, nothing to export")
    snapshot_id, snapshot_at, files = found
    return export_files(spec, settings, snapshot_id, snapshot_at, files, keep, formats)


def export_files(spec: DatasetSpec, settings: Settings, snapshot_id: int, snapshot_at: datetime,
                 files: list[str], keep: int | None = None, formats: list[str] | None = None,
                 force: bool = False) -> ExportManifest:
    """Export the rows in these Parquet files as `spec`'s open data, version `snapshot_id`
    (a curated snapshot, or the snapshot an indicator was computed from). `force` writes it
    again even if this version is exported (an indicator whose suppression changed because
    a linked indicator's source moved on)."""
    columns = open_columns(spec)
    root = dataset_dir(settings, spec.id)
    final = root / str(snapshot_id)
    catalogue.sync_dataset(spec, settings)
    names = [c.name for c in columns]
    done = ExportManifest.load(final) if (final / MANIFEST).exists() else None
    if not force and done and done.columns == names and (formats is None or
                                           {f.format for f in done.files} == set(formats)):
        manifest = done  # this snapshot is exported already, with the same open columns
    else:
        manifest = _write_export(spec, settings, snapshot_id, snapshot_at, files, names, root,
                                 final, formats)
    _record(settings, manifest)
    _prune(settings, spec.id, keep if keep is not None else DEFAULT_KEEP)
    return manifest


def _write_export(spec: DatasetSpec, settings: Settings, snapshot_id: int, snapshot_at: datetime,
                  files: list[str], names: list[str], root: Path, final: Path,
                  formats: list[str] | None) -> ExportManifest:
    root.mkdir(parents=True, exist_ok=True)
    for stale in [*root.glob(".tmp-*"), *root.glob(".old-*")]:
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    base = f"{spec.id}-{snapshot_id}"
    try:
        with duck.connection() as con:
            con.execute("SET preserve_insertion_order = true")
            parquet = tmp / f"{base}.parquet"
            con.execute(
                f"COPY (SELECT {', '.join(q(n) for n in names)} FROM {duck.parquet_source(files)}) "
                f"TO {lit(str(parquet))} (FORMAT parquet, COMPRESSION zstd)")
            relation = f"read_parquet({lit(str(parquet))})"
            try:
                check_open_rows(spec, con, relation)
            except ExportRefused as refused:
                _record_refusal(settings, spec.id, snapshot_id, refused)
                raise
            described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
            types = [(r[0], str(r[1])) for r in described]
            rows = int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])  # type: ignore[index]
            written: list[ExportFile] = []
            for name in formats or list(FORMATS):
                fmt = FORMATS[name]
                target = tmp / f"{base}.{fmt.extension}"
                if name != "parquet":
                    fmt.write(con, parquet, target, types)
                written.append(ExportFile(
                    format=name, path=str((final / target.name).relative_to(settings.home)),
                    media_type=fmt.media_type, byte_size=target.stat().st_size, row_count=rows,
                    sha256=sha256_file(target)))
            if "parquet" not in (formats or list(FORMATS)):
                parquet.unlink()
        manifest = ExportManifest(
            dataset=spec.id, snapshot_id=snapshot_id, snapshot_at=snapshot_at.isoformat(),
            exported_at=datetime.now(UTC).isoformat(), row_count=rows, columns=names, files=written)
        package = datapackage(spec, manifest)
        (tmp / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False, indent=2),
                                              "utf-8")
        (tmp / MANIFEST).write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2),
                                    "utf-8")
        if final.exists():  # the same snapshot with other open columns (the spec changed)
            old = root / f".old-{uuid.uuid4().hex[:8]}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _record(settings: Settings, manifest: ExportManifest) -> None:
    now = datetime.now(UTC)
    with db.session(settings) as s:
        s.execute(update(CatalogDistribution)
                  .where(CatalogDistribution.dataset_id == manifest.dataset)
                  .values(current=False))
        for f in manifest.files:
            dist_id = f"{manifest.dataset}-{manifest.snapshot_id}-{f.format}"
            s.merge(CatalogDistribution(
                id=dist_id, dataset_id=manifest.dataset, snapshot_id=manifest.snapshot_id,
                format=f.format, media_type=f.media_type, path=f.path, byte_size=f.byte_size,
                row_count=f.row_count, sha256=f.sha256,
                created_at=datetime.fromisoformat(manifest.exported_at) if manifest.exported_at
                else now, current=True))


def _record_refusal(settings: Settings, dataset: str, snapshot_id: int,
                    refused: ExportRefused) -> None:
    with db.session(settings) as s:
        s.add(CatalogExportRefusal(
            dataset_id=dataset, snapshot_id=snapshot_id, refused_at=datetime.now(UTC),
            findings=[{"column": f.column, "kind": f.kind, "rows": f.rows}
                      for f in refused.findings]))


def _prune(settings: Settings, dataset: str, keep: int) -> None:
    """Keep the exports of the newest `keep` snapshots (by export time); delete the rest."""
    root = dataset_dir(settings, dataset)
    exports = sorted((ExportManifest.load(d) for d in root.iterdir()
                      if d.is_dir() and (d / MANIFEST).exists()),
                     key=lambda m: m.exported_at, reverse=True)
    current = current_snapshot(settings, dataset)
    current_id = current[0] if current else None
    for old in exports[max(keep, 1):]:
        if old.snapshot_id == current_id:
            continue
        with db.session(settings) as s:
            s.execute(delete(CatalogDistribution).where(
                CatalogDistribution.dataset_id == dataset,
                CatalogDistribution.snapshot_id == old.snapshot_id))
        shutil.rmtree(root / str(old.snapshot_id), ignore_errors=True)


def current_distributions(settings: Settings, dataset: str) -> list[CatalogDistribution]:
    with db.session(settings) as s:
        return list(s.scalars(select(CatalogDistribution).where(
            CatalogDistribution.dataset_id == dataset, CatalogDistribution.current)
            .order_by(CatalogDistribution.format)))


def sample_rows(settings: Settings, dataset: str, limit: int = 10) -> list[dict[str, object]]:
    """The first rows of the current export, for the catalogue's preview: read from the
    export's Parquet file, which holds only what the classification let out and passed the
    identifier scan, so a preview can never show more than a download."""
    parquet = next((d for d in current_distributions(settings, dataset) if d.format == "parquet"),
                   None)
    if parquet is None:
        return []
    with duck.connection(memory_limit="128MB", threads=1) as con:
        cur = con.execute(f"SELECT * FROM read_parquet({lit(str(settings.home / parquet.path))}) "
                          f"LIMIT {int(limit)}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
