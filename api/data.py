"""Reading a dataset for one request: which snapshot answers it (current, or in force at
`as_of`), and the SQL run on a fresh, bounded DuckDB connection over that snapshot's
Parquet files. The SQL text comes only from the grant (`Access`) and the checked `Plan`;
every value is a parameter. A query running past its timeout is interrupted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import duckdb

from api.grants import Access, mask_sql
from api.odata import Plan
from catalog.spec import DatasetSpec
from lgsp.config import Settings
from warehouse import duck, iceberg

QUERY_TIMEOUT_S = 5.0
SNAPSHOT_CACHE_S = 1.0
"""How long a worker reuses the current snapshot's file list (the header still names it)."""
SUBJECT = "__subject_"
KEY = "__key_"


class QueryTimeout(RuntimeError):
    pass


_process_con: duckdb.DuckDBPyConnection | None = None
_con_lock = threading.Lock()


def cursor() -> duckdb.DuckDBPyConnection:
    """A cursor (its own connection) on this process's in-memory DuckDB database, opened once:
    a new database per request cost ~17 ms, a cursor well under one; the Parquet metadata
    cache then serves repeated reads of a snapshot's files."""
    global _process_con
    with _con_lock:
        if _process_con is None:
            _process_con = duck.connect(threads=1, memory_limit="256MB")
            _process_con.execute("SET parquet_metadata_cache = true")
        return _process_con.cursor()


@dataclass(frozen=True)
class Snapshot:
    id: int
    files: tuple[str, ...]


@lru_cache(maxsize=8)
def _catalog(settings: Settings):  # type: ignore[no-untyped-def]
    return iceberg.load_catalog(settings)


_current: dict[tuple[str, str], tuple[float, Snapshot | None]] = {}


def snapshot(settings: Settings, dataset: str, as_of: datetime | None = None) -> Snapshot | None:
    """The snapshot answering a request (None: nothing published then)."""
    key = (str(settings.home), dataset)
    now = time.monotonic()
    if as_of is None and key in _current and now - _current[key][0] < SNAPSHOT_CACHE_S:
        return _current[key][1]
    catalog = _catalog(settings)
    result: Snapshot | None = None
    if catalog.table_exists((iceberg.CURATED, dataset)):
        table = catalog.load_table((iceberg.CURATED, dataset))
        snap_id = (iceberg.snapshot_as_of(table, as_of) if as_of else
                   (table.current_snapshot().snapshot_id if table.current_snapshot() else None))
        if snap_id is not None:
            files = tuple(iceberg.local_path(p) for p in iceberg.data_files(table, snap_id))
            result = Snapshot(snap_id, files)
    if as_of is None:
        _current[key] = (now, result)
    return result


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


def _order(spec: DatasetSpec, access: Access, plan: Plan) -> tuple[str, bool]:
    """ORDER BY text and whether keyset paging applies (key order on clear key columns)."""
    if plan.order:
        terms = [f"{duck.quote_ident(c)} {'DESC' if d else 'ASC'} NULLS LAST" for c, d in plan.order]
        return ", ".join(terms + [f"hash({', '.join(map(duck.quote_ident, spec.primary_key))})"]), False
    if all(k in access.clear_columns for k in spec.primary_key):
        return ", ".join(duck.quote_ident(k) for k in spec.primary_key), True
    # a hidden key must not leak its order: a stable but meaningless one instead
    return f"hash({', '.join(map(duck.quote_ident, spec.primary_key))})", False


def run(spec: DatasetSpec, access: Access, plan: Plan, snap: Snapshot, *,
        extra_where: str = "TRUE", extra_params: tuple[Any, ...] = (),
        timeout: float = QUERY_TIMEOUT_S) -> Result:
    subjects = subject_columns(spec)
    order, keyset = _order(spec, access, plan)
    source = duck.parquet_source(snap.files)
    exprs = [mask_sql(c, access.masks.get(c)) for c in plan.select]
    exprs += [f"{duck.quote_ident(c)} AS {SUBJECT}{i}" for i, c in enumerate(subjects)]
    exprs += [f"{duck.quote_ident(k)} AS {KEY}{i}" for i, k in enumerate(spec.primary_key)]
    where = f"({access.predicate}) AND ({plan.where}) AND ({extra_where})"
    params: list[Any] = [*access.params, *plan.params, *extra_params]
    page_where, page_params = "TRUE", []
    if plan.after is not None and keyset:
        ors = []
        for i, k in enumerate(spec.primary_key):
            eqs = [f"{duck.quote_ident(p)} = ?" for p in spec.primary_key[:i]]
            ors.append("(" + " AND ".join([*eqs, f"{duck.quote_ident(k)} > ?"]) + ")")
            page_params += [*plan.after[:i], plan.after[i]]
        page_where = " OR ".join(ors)
    sql = (f"SELECT {', '.join(exprs)} FROM {source} WHERE {where} AND ({page_where}) "
           f"ORDER BY {order} LIMIT ? OFFSET ?")
    con = cursor()
    timer = threading.Timer(timeout, con.interrupt)
    timer.start()
    try:
        try:
            cur = con.execute(sql, [*params, *page_params, plan.top, plan.skip])
            names = [d[0] for d in cur.description]
            raw = cur.fetchall()
            count = None
            if plan.count:
                count = con.execute(f"SELECT count(*) FROM {source} WHERE {where}", params).fetchone()[0]
        except duckdb.InterruptException as exc:
            raise QueryTimeout(f"the query ran past {timeout:g} s") from exc
    finally:
        timer.cancel()
        con.close()
    n = len(plan.select)
    subject_values = sorted({str(v) for r in raw for v in r[n:n + len(subjects)] if v is not None})
    last_key = list(raw[-1][n + len(subjects):]) if raw and keyset and len(raw) == plan.top else None
    return Result(names[:n], [r[:n] for r in raw], subject_values, last_key, count)


BULK_BATCH_ROWS = 10_000


def stream(spec: DatasetSpec, access: Access, plan: Plan, snap: Snapshot,
           on_batch: Any) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row in scope matching the plan's filter, in key order, as (columns, rows) batches
    of BULK_BATCH_ROWS read from a DuckDB stream (never the whole result in memory);
    `on_batch(subject_ids)` receives the personal IDs of each batch for the audit."""
    subjects = subject_columns(spec)
    order, _ = _order(spec, access, plan)
    exprs = [mask_sql(c, access.masks.get(c)) for c in plan.select]
    exprs += [f"{duck.quote_ident(c)} AS {SUBJECT}{i}" for i, c in enumerate(subjects)]
    sql = (f"SELECT {', '.join(exprs)} FROM {duck.parquet_source(snap.files)} "
           f"WHERE ({access.predicate}) AND ({plan.where}) ORDER BY {order}")
    n = len(plan.select)
    con = cursor()
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
