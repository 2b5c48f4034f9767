"""Iceberg tables through pyiceberg's SQL catalog (SQLite by default, PostgreSQL deployed).

Files are written by DuckDB; this module registers them. `replace_files` commits one
overwrite snapshot that swaps a set of data files for another: atomic, and every publish is
one snapshot, so time travel answers "what did the table say at time T".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NamespaceAlreadyExistsError
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.table import Table
from pyiceberg.table.name_mapping import create_mapping_from_schema

from lgsp.config import Settings

CURATED = "curated"
QUARANTINE = "quarantine"


class CatalogUnavailable(RuntimeError):
    """The Iceberg catalog database cannot be opened; the message names it and why."""


def load_catalog(settings: Settings) -> Catalog:
    from sqlalchemy.exc import OperationalError

    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    try:
        return SqlCatalog(
            "lgsp",
            uri=settings.iceberg_catalog_uri,
            warehouse=settings.warehouse_dir.as_uri(),
        )
    except OperationalError as exc:
        raise CatalogUnavailable(unavailable_reason(settings.iceberg_catalog_uri, exc)) from exc


def unavailable_reason(uri: str, exc: BaseException) -> str:
    """'cannot open the Iceberg catalog database <where>: <driver error>; <likely cause>'
    (SQLite's own message, "unable to open database file", names no file)."""
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    error = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    if url.get_backend_name() != "sqlite" or not url.database:
        where = url.render_as_string(hide_password=True)
        return f"cannot open the Iceberg catalog database {where}: {error}"
    path = Path(url.database).absolute()
    folder = path.parent
    if not folder.is_dir():
        cause = f"its folder {folder} does not exist"
    elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
        cause = "the file is not readable and writable by this user"
    elif not os.access(folder, os.W_OK | os.X_OK):
        cause = f"its folder {folder} is not writable by this user (SQLite writes a journal beside it)"
    else:
        cause = "check the path, LGSP_HOME and LGSP_CATALOG_URI"
    return f"cannot open the Iceberg catalog database {path}: {error}; {cause}"


def ensure_table(catalog: Catalog, namespace: str, name: str, schema: pa.Schema) -> Table:
    """Create the table if needed; add columns a newer spec declares (union by name)."""
    try:
        catalog.create_namespace(namespace)
    except NamespaceAlreadyExistsError:
        pass
    identifier = (namespace, name)
    if catalog.table_exists(identifier):
        table = catalog.load_table(identifier)
        current = {f.name for f in table.schema().fields}
        if any(f.name not in current for f in schema):
            with table.update_schema() as update:
                update.union_by_name(schema)
            table = catalog.load_table(identifier)
            _set_name_mapping(table)
        return table
    table = catalog.create_table(identifier, schema=schema)
    _set_name_mapping(table)
    return catalog.load_table(identifier)


def _set_name_mapping(table: Table) -> None:
    mapping = create_mapping_from_schema(table.schema())
    with table.transaction() as tx:
        tx.set_properties(**{"schema.name-mapping.default": mapping.model_dump_json()})


def data_files(table: Table, snapshot_id: int | None = None) -> list[str]:
    if table.current_snapshot() is None:
        return []
    return [task.file.file_path for task in table.scan(snapshot_id=snapshot_id).plan_files()]


def local_path(uri: str) -> str:
    return uri.removeprefix("file://")


def snapshot_as_of(table: Table, when: datetime) -> int | None:
    snap = table.snapshot_as_of_timestamp(int(when.timestamp() * 1000))
    return snap.snapshot_id if snap else None


def replace_files(table: Table, remove: Callable[[str], bool], add: Iterable[str],
                  properties: dict[str, str]) -> Table:
    """One overwrite snapshot: drop current files for which `remove(path)` is true, add the
    given Parquet files. Returns the refreshed table."""
    add = list(add)
    with table.transaction() as tx:
        current = (
            [t.file for t in table.scan().plan_files()] if table.current_snapshot() else []
        )
        with tx.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
            for data_file in current:
                if remove(data_file.file_path):
                    overwrite.delete_data_file(data_file)
            for path in add:
                overwrite.append_data_file(
                    parquet_file_to_data_file(table.io, tx.table_metadata, path)
                )
    return table.refresh()


def with_commit_retry(fn: Callable[[], Table], attempts: int = 5) -> Table:
    """Retry a commit that lost a race with another writer (SQLite catalog: one writer)."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except CommitFailedException:
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def table_dir(table: Table) -> Path:
    return Path(local_path(table.location()))


def current_snapshot(settings: Settings, namespace: str, name: str) -> tuple[int | None, int]:
    """(snapshot id, rows) of a table's current snapshot; (None, 0) when there is none."""
    catalog = load_catalog(settings)
    if not catalog.table_exists((namespace, name)):
        return None, 0
    snapshot = catalog.load_table((namespace, name)).current_snapshot()
    if snapshot is None:
        return None, 0
    return snapshot.snapshot_id, int((snapshot.summary or {}).get("total-records", 0))
