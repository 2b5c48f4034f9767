"""The PostgreSQL store: an indexed copy of a dataset's current snapshot in a PostgreSQL
database that key lookups, person lookups and OData pages answer from when
LGSP_API_STORE_URI names that database (bulk and `as_of` stay on DuckDB over Parquet).
Same grants, masks, row scope and audit as the default store (the SQLite serving copy);
only the engine differs (api/dialects.py spells the SQL for PostgreSQL).

- `copy_to_postgres(settings, dataset, uri)` creates schema `serving`, streams the current
  snapshot into `serving.<dataset>` (Arrow batches -> COPY through psycopg, never the whole
  table in memory), creates the primary key and an index per row-scope column (as the
  SQLite copy does), and records the snapshot in `serving.snapshots(dataset, snapshot_id)`;
  the new table replaces the old one in one transaction.
- `source(settings, dataset)`: the store for a request, naming the snapshot the copy holds
  (that is what the `LGSP-Snapshot-Id` header says); None when the copy has no such dataset.
  One connection per thread (autocommit, statement_timeout = the API's query timeout).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from api import dialects
from api.data import QUERY_TIMEOUT_S, QueryTimeout, Source, ValueMismatch, snapshot
from api.serving import scope_columns
from catalog.spec import get_spec
from lgsp.config import Settings
from warehouse.duck import quote_ident

SCHEMA = "serving"
SNAPSHOT_CACHE_S = 1.0
_local = threading.local()
_snapshots: dict[tuple[str, str], tuple[float, int | None]] = {}


def _pg_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_floating(arrow_type):
        return "double precision"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    return 'text COLLATE "C"'  # byte order, as SQLite and DuckDB compare and sort


def table_sql(dataset: str) -> str:
    return f"{SCHEMA}.{quote_ident(dataset)}"


def copy_to_postgres(settings: Settings, dataset: str, uri: str) -> int:
    """Copy the current snapshot of `dataset` into `serving.<dataset>` at `uri`; the rows copied."""
    import psycopg
    import pyarrow.dataset as pads

    spec = get_spec(dataset, settings.specs_dir)
    snap = snapshot(settings, dataset)
    if snap is None:
        raise ValueError(f"{dataset}: nothing published yet, nothing to copy")
    source = pads.dataset(list(snap.files), format="parquet")
    known = {c.name for c in spec.columns}
    fields = [f for f in source.schema if f.name in known]
    names = [f.name for f in fields]
    new = quote_ident(f"{dataset}__new")
    rows = 0
    with psycopg.connect(uri) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.snapshots "
                    "(dataset text PRIMARY KEY, snapshot_id bigint NOT NULL)")
        con.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{new}")
        cols = ", ".join(f"{quote_ident(f.name)} {_pg_type(f.type)}" for f in fields)
        con.execute(f"CREATE TABLE {SCHEMA}.{new} ({cols})")
        with con.cursor() as cur, cur.copy(
                f"COPY {SCHEMA}.{new} ({', '.join(map(quote_ident, names))}) FROM STDIN") as copy:
            for batch in source.to_batches(columns=names, batch_size=20_000):
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                for row in zip(*columns, strict=True):
                    copy.write_row(row)
                rows += batch.num_rows
        key = ", ".join(map(quote_ident, spec.primary_key))
        pk = quote_ident(f"{dataset}__pk{snap.id}")
        con.execute(f"ALTER TABLE {SCHEMA}.{new} ADD CONSTRAINT {pk} PRIMARY KEY ({key})")
        for column in scope_columns(settings, spec):
            if column in names:
                con.execute(f"CREATE INDEX ON {SCHEMA}.{new} ({quote_ident(column)}, {key})")
        con.execute(f"DROP TABLE IF EXISTS {table_sql(dataset)}")
        con.execute(f"ALTER TABLE {SCHEMA}.{new} RENAME TO {quote_ident(dataset)}")
        con.execute(f"INSERT INTO {SCHEMA}.snapshots (dataset, snapshot_id) VALUES (%s, %s) "
                    "ON CONFLICT (dataset) DO UPDATE SET snapshot_id = EXCLUDED.snapshot_id",
                    (dataset, snap.id))
        con.execute(f"ANALYZE {table_sql(dataset)}")
    return rows


def _connection(uri: str) -> Any:
    import psycopg

    cons: dict[str, Any] = getattr(_local, "cons", None) or {}
    _local.cons = cons
    con = cons.get(uri)
    if con is None or con.closed:
        con = psycopg.connect(uri, autocommit=True)
        con.execute(f"SET statement_timeout = {int(QUERY_TIMEOUT_S * 1000)}")
        cons[uri] = con
    return con


def _snapshot_id(uri: str, dataset: str) -> int | None:
    import psycopg

    key = (uri, dataset)
    now = time.monotonic()
    hit = _snapshots.get(key)
    if hit is not None and now - hit[0] < SNAPSHOT_CACHE_S:
        return hit[1]
    try:
        row = _connection(uri).execute(f"SELECT snapshot_id FROM {SCHEMA}.snapshots WHERE dataset = %s",
                                       (dataset,)).fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    found = None if row is None else int(row[0])
    _snapshots[key] = (now, found)
    return found


class PgSource(Source):
    kind = "postgres"

    def __init__(self, uri: str, dataset: str, snapshot_id: int) -> None:
        self.dialect, self.table = dialects.get(dialects.POSTGRES), table_sql(dataset)
        self.snapshot_id, self.uri = snapshot_id, uri

    def fetch(self, sql: str, params: list[Any], timeout: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        import psycopg

        con = _connection(self.uri)
        try:
            cur = con.execute(sql, params)
            return [d.name for d in cur.description], cur.fetchall()
        except psycopg.errors.QueryCanceled as exc:
            raise QueryTimeout(f"the query ran past {timeout:g} s") from exc
        except (psycopg.errors.DataError, psycopg.errors.UndefinedFunction) as exc:
            raise ValueMismatch(str(exc).splitlines()[0]) from None


def source(settings: Settings, dataset: str) -> PgSource | None:
    uri = settings.api_store_uri
    if not uri:
        return None
    snap = _snapshot_id(uri, dataset)
    return None if snap is None else PgSource(uri, dataset, snap)
