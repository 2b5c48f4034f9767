"""Reading a dataset for one request: which snapshot answers it (current, or in force at
`as_of`), and from which store (`source`):

- the serving copy (api/serving.py, SQLite, indexed) for the current snapshot: key
  lookups, person lookups and OData pages;
- the PostgreSQL copy (api/pg_copy.py) instead, when LGSP_API_STORE_URI names one (the
  header then names the snapshot that copy holds);
- DuckDB over the snapshot's Parquet files for `as_of`, bulk downloads and while a new
  snapshot's serving copy is being built. Each worker keeps one locked-down DuckDB
  connection per snapshot (warehouse/sandbox.locked_connection: a read-only view over
  exactly that snapshot's files, external access off, configuration locked) before any
  request-derived SQL runs on it; each request takes a cursor of it.

The SQL text comes only from the grant (`Access`, spelled per engine by api/dialects.py)
and the checked `Plan`; every value is a parameter. A query running past its timeout is
interrupted (DuckDB interrupt, SQLite progress handler, PostgreSQL statement_timeout).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import duckdb

from api import dialects, serving
from api.grants import Access
from api.odata import Plan
from catalog.spec import DatasetSpec
from lgsp.config import Settings
from warehouse import duck, iceberg

QUERY_TIMEOUT_S = 5.0
SNAPSHOT_CACHE_S = 1.0
"""How long a worker reuses the current snapshot's file list (the header still names it)."""
SUBJECT = "__subject_"
KEY = "__key_"
VIEW = "snapshot"
class QueryTimeout(RuntimeError):
    pass


class ValueMismatch(ValueError):
    """A value in the query does not fit its column (answered 400)."""


@dataclass(frozen=True)
class Snapshot:
    id: int
    files: tuple[str, ...]


@lru_cache(maxsize=8)
def _catalog(settings: Settings):  # type: ignore[no-untyped-def]
    return iceberg.load_catalog(settings)


_current: dict[tuple[str, str], tuple[float, str | None, Snapshot | None]] = {}


def _metadata_location(catalog: Any, dataset: str) -> str | None:
    """The table's current metadata file as the SQL catalog records it: one indexed row,
    ~50 us, where loading the table costs tens of milliseconds; None if it cannot say."""
    engine = getattr(catalog, "engine", None)
    if engine is None:
        return None
    from sqlalchemy import text

    try:
        with engine.connect() as con:
            return con.execute(text("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = :c "
                                    "AND table_namespace = :n AND table_name = :t"),
                               {"c": catalog.name, "n": iceberg.CURATED, "t": dataset}).scalar()
    except Exception:  # noqa: BLE001 - another catalog layout: load the table instead
        return None


def snapshot(settings: Settings, dataset: str, as_of: datetime | None = None) -> Snapshot | None:
    """The snapshot answering a request (None: nothing published then). The current one is
    re-checked at most every SNAPSHOT_CACHE_S, and the table only loaded again when the
    catalog points at new metadata."""
    key = (str(settings.home), dataset)
    now = time.monotonic()
    hit = _current.get(key)
    if as_of is None and hit is not None and now - hit[0] < SNAPSHOT_CACHE_S:
        return hit[2]
    catalog = _catalog(settings)
    location = _metadata_location(catalog, dataset) if as_of is None else None
    if as_of is None and hit is not None and location is not None and location == hit[1]:
        _current[key] = (now, location, hit[2])
        return hit[2]
    result: Snapshot | None = None
    if catalog.table_exists((iceberg.CURATED, dataset)):
        table = catalog.load_table((iceberg.CURATED, dataset))
        snap_id = (iceberg.snapshot_as_of(table, as_of) if as_of else
                   (table.current_snapshot().snapshot_id if table.current_snapshot() else None))
        if snap_id is not None:
            files = tuple(iceberg.local_path(p) for p in iceberg.data_files(table, snap_id))
            result = Snapshot(snap_id, files)
    if as_of is None:
        _current[key] = (now, location, result)
    return result


# ---- stores -------------------------------------------------------------------------------

class Source:
    """Where one request's rows come from: an engine, its table, the snapshot it holds."""

    dialect: dialects.Dialect
    table: str
    snapshot_id: int
    kind: str

    def fetch(self, sql: str, params: list[Any], timeout: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        raise NotImplementedError

    def use_sets(self, sets: dict[str, tuple[str, ...]]) -> None:
        """Make the temp tables a scope spelled by this source's dialect reads (SQLite)."""
        raise NotImplementedError(f"{self.dialect.name} spells no scope with temp tables")


_duck_cons: OrderedDict[tuple[str, str, int], duckdb.DuckDBPyConnection] = OrderedDict()
_duck_lock = threading.Lock()
DUCK_CONNECTIONS = 4


def locked_cursor(settings: Settings, dataset: str, snap: Snapshot) -> duckdb.DuckDBPyConnection:
    """A cursor of this worker's locked-down DuckDB connection over `snap` (view `snapshot`)."""
    from warehouse.sandbox import locked_connection

    key = (str(settings.home), dataset, snap.id)
    with _duck_lock:
        con = _duck_cons.get(key)
        if con is None:
            con = locked_connection(settings, {VIEW: list(snap.files)}, threads=1, memory_limit="256MB")
            _duck_cons[key] = con
            while len(_duck_cons) > DUCK_CONNECTIONS:
                _duck_cons.popitem(last=False)[1].close()
        _duck_cons.move_to_end(key)
        return con.cursor()


class DuckSource(Source):
    kind = "parquet"

    def __init__(self, settings: Settings, dataset: str, snap: Snapshot) -> None:
        self.dialect, self.table, self.snapshot_id = dialects.get(dialects.DUCKDB), VIEW, snap.id
        self.settings, self.dataset, self.snap = settings, dataset, snap

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return locked_cursor(self.settings, self.dataset, self.snap)

    def fetch(self, sql: str, params: list[Any], timeout: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        con = self.cursor()
        timer = threading.Timer(timeout, con.interrupt)
        timer.start()
        try:
            cur = con.execute(sql, params)
            return [d[0] for d in cur.description], cur.fetchall()
        except duckdb.InterruptException as exc:
            raise QueryTimeout(f"the query ran past {timeout:g} s") from exc
        except (duckdb.ConversionException, duckdb.BinderException) as exc:
            raise ValueMismatch(str(exc).splitlines()[0]) from None
        finally:
            timer.cancel()
            con.close()


class SqliteSource(Source):
    kind = "serving"

    def __init__(self, path: Any, snapshot_id: int) -> None:
        self.dialect, self.table, self.snapshot_id = dialects.get(dialects.SQLITE), serving.TABLE, snapshot_id
        self.path = path

    def use_sets(self, sets: dict[str, tuple[str, ...]]) -> None:
        serving.ensure_sets(self.path, sets)

    def fetch(self, sql: str, params: list[Any], timeout: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        con = serving.connection(self.path)
        deadline = time.monotonic() + timeout
        con.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cur = con.execute(sql, params)
            return [d[0] for d in cur.description], cur.fetchall()
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise QueryTimeout(f"the query ran past {timeout:g} s") from exc
            raise
        finally:
            con.set_progress_handler(None, 0)


def source(settings: Settings, spec: DatasetSpec, as_of: datetime | None) -> Source | None:
    """The store answering a request on `spec` (None: nothing published then)."""
    if as_of is None and settings.api_store_uri:
        from api import pg_copy

        found = pg_copy.source(settings, spec.id)
        if found is not None:
            return found
    snap = snapshot(settings, spec.id, as_of)
    if snap is None:
        return None
    if as_of is None:
        path = serving.ready(settings, spec, snap.id, snap.files)
        if path is not None:
            return SqliteSource(path, snap.id)
    return DuckSource(settings, spec.id, snap)


def subject_columns(spec: DatasetSpec) -> list[str]:
    """Columns holding a person's ID: their values go to the audit (as keyed hashes)."""
    return [c.name for c in spec.columns if c.name.endswith("personal_id")]


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    subjects: list[str]
    last_key: list[Any] | None
    count: int | None


def _order(primary_key: list[str], access: Access, plan: Plan, dialect: dialects.Dialect
           ) -> tuple[str, bool]:
    """ORDER BY text and whether keyset paging applies (key order on clear key columns)."""
    clear_key = all(k in access.clear_columns for k in primary_key)
    key_order = ", ".join(duck.quote_ident(k) for k in primary_key)
    if plan.order:  # ties by the key when it is clear (the same order in every engine)
        terms = [f"{duck.quote_ident(c)} {'DESC' if d else 'ASC'} NULLS LAST" for c, d in plan.order]
        return ", ".join(terms + [key_order if clear_key else dialect.hash(primary_key)]), False
    if clear_key:
        return key_order, True
    # a hidden key must not leak its order: a stable but meaningless one instead
    return dialect.hash(primary_key), False


def run(spec: DatasetSpec, access: Access, plan: Plan, src: Source, *,
        extra_where: str = "TRUE", extra_params: tuple[Any, ...] = (),
        timeout: float = QUERY_TIMEOUT_S) -> Result:
    """One page (or one record) of the plan, in scope, from `src`."""
    keyset_page = plan.after is not None
    if access.scope is not None:  # the grant's scope as this engine spells it best
        predicate, scope_params, sets = src.dialect.scope(access.scope)
        if sets:
            src.use_sets(sets)
    else:
        predicate, scope_params = access.predicate, list(access.params)
    sql, count_sql, keyset = _page_sql(tuple(spec.primary_key), tuple(subject_columns(spec)),
                                       tuple(access.columns), tuple(sorted(access.masks.items())),
                                       predicate, tuple(plan.select), plan.where,
                                       tuple(plan.order), keyset_page, extra_where, src.dialect, src.table)
    params: list[Any] = [*scope_params, *plan.params, *extra_params]
    page_params: list[Any] = []
    if keyset_page and keyset:
        for i in range(len(spec.primary_key)):
            page_params += [*plan.after[:i], plan.after[i]]  # type: ignore[index]
    names, raw = src.fetch(sql, [*params, *page_params, plan.top, plan.skip], timeout)
    count = None
    if plan.count:
        count = src.fetch(count_sql, params, timeout)[1][0][0]
    subjects = subject_columns(spec)
    n = len(plan.select)
    subject_values = sorted({str(v) for r in raw for v in r[n:n + len(subjects)] if v is not None})
    last_key = list(raw[-1][n + len(subjects):]) if raw and keyset and len(raw) == plan.top else None
    return Result(names[:n], [r[:n] for r in raw], subject_values, last_key, count)


@lru_cache(maxsize=1024)
def _page_sql(primary_key: tuple[str, ...], subjects: tuple[str, ...], columns: tuple[str, ...],
              masks: tuple[tuple[str, str], ...],
              predicate: str, select: tuple[str, ...], where_: str, order_: tuple[tuple[str, bool], ...],
              keyset_page: bool, extra_where: str, d: dialects.Dialect, source_table: str
              ) -> tuple[str, str, bool]:
    """(page SQL, count SQL, keyset applies), in `d`'s placeholder style; built once per
    query shape (the values are parameters, so the text repeats)."""
    access = Access(True, "granted", None, columns, dict(masks), predicate)
    plan = Plan(select=list(select), where=where_, order=list(order_))
    key = list(primary_key)
    order, keyset = _order(key, access, plan, d)
    exprs = [d.mask(c, access.masks.get(c)) for c in plan.select]
    exprs += [f"{duck.quote_ident(c)} AS {SUBJECT}{i}" for i, c in enumerate(subjects)]
    exprs += [f"{duck.quote_ident(k)} AS {KEY}{i}" for i, k in enumerate(key)]
    where = f"({predicate}) AND ({where_}) AND ({extra_where})"
    page_where = "TRUE"
    if keyset_page and keyset:
        ors = []
        for i, k in enumerate(key):
            eqs = [f"{duck.quote_ident(p)} = ?" for p in key[:i]]
            ors.append("(" + " AND ".join([*eqs, f"{duck.quote_ident(k)} > ?"]) + ")")
        page_where = " OR ".join(ors)
    table = source_table if source_table.startswith("serving.") else duck.quote_ident(source_table)
    sql = (f"SELECT {', '.join(exprs)} FROM {table} WHERE {where} AND ({page_where}) "
           f"ORDER BY {order} LIMIT ? OFFSET ?")
    return d.params(sql), d.params(f"SELECT count(*) FROM {table} WHERE {where}"), keyset


BULK_BATCH_ROWS = 10_000


def stream(settings: Settings, spec: DatasetSpec, access: Access, plan: Plan, snap: Snapshot,
           on_batch: Any) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row in scope matching the plan's filter, in key order, as (columns, rows) batches
    of BULK_BATCH_ROWS read from a DuckDB stream (never the whole result in memory);
    `on_batch(subject_ids)` receives the personal IDs of each batch for the audit."""
    subjects = subject_columns(spec)
    d = dialects.get(dialects.DUCKDB)
    order, _ = _order(spec.primary_key, access, plan, d)
    exprs = [d.mask(c, access.masks.get(c)) for c in plan.select]
    exprs += [f"{duck.quote_ident(c)} AS {SUBJECT}{i}" for i, c in enumerate(subjects)]
    sql = (f"SELECT {', '.join(exprs)} FROM {VIEW} "
           f"WHERE ({access.predicate}) AND ({plan.where}) ORDER BY {order}")
    n = len(plan.select)
    con = locked_cursor(settings, spec.id, snap)
    try:
        cur = con.execute(sql, [*access.params, *plan.params])
        names = [d[0] for d in cur.description][:n]
        while True:
            batch = cur.fetchmany(BULK_BATCH_ROWS)
            if not batch:
                break
            on_batch({str(v) for r in batch for v in r[n:] if v is not None})
            yield names, [r[:n] for r in batch]
    finally:
        con.close()
