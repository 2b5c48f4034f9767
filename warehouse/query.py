"""Read access to the curated zone for DuckDB: views over each table's current snapshot
(or the snapshot in force at a given time, for "what did the data say on date D")."""

from __future__ import annotations

from datetime import datetime

import duckdb

from catalog.spec import load_catalog
from lgsp.config import Settings
from warehouse import duck, iceberg


def snapshot_files(settings: Settings, namespace: str, dataset: str,
                   as_of: datetime | None = None) -> list[str]:
    catalog = iceberg.load_catalog(settings)
    if not catalog.table_exists((namespace, dataset)):
        return []
    table = catalog.load_table((namespace, dataset))
    snapshot_id = iceberg.snapshot_as_of(table, as_of) if as_of else None
    if as_of and snapshot_id is None:
        return []
    return [iceberg.local_path(p) for p in iceberg.data_files(table, snapshot_id)]


def curated_connection(settings: Settings, as_of: datetime | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per curated dataset (and <id>_quarantine)."""
    con = duck.connect()
    for spec in load_catalog(settings.specs_dir).specs:  # a malformed spec has no view
        for namespace, view in ((iceberg.CURATED, spec.id),
                                (iceberg.QUARANTINE, f"{spec.id}_quarantine")):
            files = snapshot_files(settings, namespace, spec.id, as_of)
            if files:
                con.execute(f"CREATE VIEW {duck.quote_ident(view)} AS "
                            f"SELECT * FROM {duck.parquet_source(files)}")
    return con
