"""Read access to the curated zone for DuckDB: views over each table's current snapshot
(or the snapshot in force at a given time, for "what did the data say on date D")."""

from __future__ import annotations

from datetime import datetime

import duckdb
from pyiceberg.catalog import Catalog

from catalog.spec import load_catalog
from lgsp.config import Settings
from warehouse import duck, iceberg


def snapshot_files(settings: Settings, namespace: str, dataset: str,
                   as_of: datetime | None = None, catalog: Catalog | None = None) -> list[str]:
    catalog = catalog or iceberg.load_catalog(settings)
    if not catalog.table_exists((namespace, dataset)):
        return []
    table = catalog.load_table((namespace, dataset))
    snapshot_id = iceberg.snapshot_as_of(table, as_of) if as_of else None
    if as_of and snapshot_id is None:
        return []
    return [iceberg.local_path(p) for p in iceberg.data_files(table, snapshot_id)]


def snapshot_views(settings: Settings, as_of: datetime | None = None) -> dict[str, list[str]]:
    """View name -> the Parquet files of its snapshot: one view per curated dataset and one
    `<id>_quarantine` per quarantine table; tables with no snapshot (at `as_of`) are left out.
    A malformed spec has no view (the other datasets stay readable)."""
    views: dict[str, list[str]] = {}
    catalog = iceberg.load_catalog(settings)
    for spec in load_catalog(settings.specs_dir).specs:
        for namespace, view in ((iceberg.CURATED, spec.id),
                                (iceberg.QUARANTINE, f"{spec.id}_quarantine")):
            files = snapshot_files(settings, namespace, spec.id, as_of, catalog)
            if files:
                views[view] = files
    return views


def create_views(con: duckdb.DuckDBPyConnection, views: dict[str, list[str]],
                 catalog: str | None = None) -> None:
    prefix = f"{duck.quote_ident(catalog)}." if catalog else ""
    for view, files in views.items():
        con.execute(f"CREATE VIEW {prefix}{duck.quote_ident(view)} AS "
                    f"SELECT * FROM {duck.parquet_source(files)}")


def curated_connection(settings: Settings, as_of: datetime | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per curated dataset (and <id>_quarantine), for the
    pipeline and tests. Not for people: they get `warehouse.sandbox.sandboxed_connection`."""
    con = duck.connect()
    create_views(con, snapshot_views(settings, as_of))
    return con
