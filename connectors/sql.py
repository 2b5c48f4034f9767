"""The `sql` transport: a table of a registry's relational database (PostgreSQL or
MariaDB/MySQL), pulled incrementally.

Parameters (spec `source.params`):
  dsn         SQLAlchemy-style URL: postgresql://user@host:port/db or
              mysql+pymysql://user:password@host:port/db (mariadb+pymysql:// too)
  table       the table to read
  key         key columns (default: the spec's primary key)
  updated_at  the change timestamp column, the watermark (default: the spec's order_by)
  batch_rows  rows per keyset page (default 100000)
  deletes     optional tombstone table the registry writes on delete:
              {table, table_column, key_column, deleted_at_column}; rows whose
              `table_column` equals this table and whose `deleted_at` falls in the window
              become tombstones (`_deleted` = "true", the key and order_by set)
  timezone    zone of timestamps stored without one (PostgreSQL timestamp, MariaDB DATETIME):
              IANA name or offset, default UTC (`naive_timezone` is the older name); see
              connectors/safe_window.py, which also owns `lag` (applied by the pipeline)
  paging      keyset | cursor | auto (default): how a window is read, see below

How it reads the window (since, until]:
- keyset: pages of `batch_rows`, each `WHERE (updated_at, key) > (last page's last row)
  ORDER BY updated_at, key LIMIT n`, so every page is a short index range scan on the
  registry's (updated_at, key) index, never repeats or skips a row, and holds no long
  transaction open on the registry. Right for incremental windows (few rows).
- cursor: the whole window as one query (one snapshot) streamed from the server and cut
  into batches of `batch_rows`; unordered, as publish keeps the newest row per key, so the
  database reads the table sequentially instead of an index scan with a random heap read per
  row (~3x faster for an initial load of a million rows, measured in bench/land_sql.py).
- auto: cursor for a window without a lower bound (the first load), keyset otherwise.
On PostgreSQL rows stream as `COPY (SELECT ...) TO STDOUT` in CSV, parsed by Arrow's C++ CSV
reader; on MariaDB through an unbuffered server-side cursor (pymysql SSCursor) read in
chunks. The next page or batch is read in a thread while the caller writes the current one.
Memory is a couple of pages.
Every value is delivered as text (timestamps ISO 8601 with their offset, in UTC).

No change lost (connectors/safe_window.py): before reading, the connector asks the database
for its clock and the start of the oldest transaction still running (PostgreSQL:
pg_stat_activity of this database; MariaDB: information_schema.innodb_trx, transactions that
wrote or are writing) and lowers `until` to it, cut to the change column's precision; the run's
manifest records that window, so the watermark never passes a change still to come. Then all
pages and the deletion log are read in one REPEATABLE READ, read-only snapshot: a row re-stamped
while paging is read once (its new version falls in a later window), and a deletion-log row
whose key is live in the same snapshot (deleted and re-inserted, or restored) is superseded by
the row and not delivered: the source's own order decides, not the timestamps.
Columns the table has beyond the spec are kept and reported as drift; spec columns the
table lacks are reported (the gate blocks if a required one is missing). A lost connection or
a dropped table fails the extract with a message naming the source, table and rows read.
"""

from __future__ import annotations

import io
import math
import select
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from catalog.spec import DatasetSpec
from connectors.base import (
    DELETED_COLUMN,
    ConnectorError,
    SchemaDrift,
    Window,
    database_source,
)
from connectors.prefetch import prefetched
from connectors.registry import register
from connectors.safe_window import (
    as_instant,
    local_naive,
    safe_until,
    source_lag,
    source_zone,
    zone_is_offset,
    zone_sql_name,
)
from connectors.state import DatasetState

DEFAULT_BATCH_ROWS = 100_000
MARIADB_CHUNK = 10_000
PREFETCH_PAGES = 2


class SqlConnector:
    def __init__(self, spec: DatasetSpec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.drift = SchemaDrift()
        source = database_source(spec, params, {"postgresql": "postgresql", "mysql": "mariadb",
                                                "mariadb": "mariadb"}, "sql")
        self.url, self.backend, self.table, self.key = (source.url, source.backend, source.table,
                                                        source.key)
        self.updated_at = str(params.get("updated_at") or spec.order_by or "updated_at")
        self.batch_rows = int(params.get("batch_rows", DEFAULT_BATCH_ROWS))
        self.deletes = dict(params["deletes"]) if params.get("deletes") else None
        try:
            self.zone = source_zone(params, spec.id)
            self.lag = source_lag(params, spec.id)
        except ValueError as exc:
            raise ConnectorError(str(exc)) from exc
        self.window: Window | None = None
        """The window actually read (its `until` lowered to the safe bound), once known."""
        self.bound: dict[str, str | None] = {}
        self.paging = str(params.get("paging", "auto"))
        if self.paging not in ("auto", "keyset", "cursor"):
            raise ConnectorError(f"{spec.id}: source.params.paging: {self.paging!r} is not "
                                 "auto, keyset or cursor")
        self.rows = 0
        self.tombstones = 0
        self.pages = 0

    @property
    def where(self) -> str:
        """The source, for messages: database URL without password, and the table."""
        return f"{self.url.render_as_string(hide_password=True)} table {self.table}"

    def describe(self) -> dict[str, Any]:
        return {"connector": "sql", "dsn": self.url.render_as_string(hide_password=True),
                "table": self.table, "key": self.key, "updated_at": self.updated_at,
                "pages": self.pages, "rows": self.rows, "tombstones": self.tombstones,
                "deletes": bool(self.deletes), "safe_bound": self.bound}

    def pending_state(self) -> dict[str, Any]:
        return {}

    # --- reading -----------------------------------------------------------------
    def extract(self, window: Window, state: DatasetState) -> Iterator[pa.RecordBatch]:
        reader = _PostgresReader(self) if self.backend == "postgresql" else _MariaDbReader(self)
        try:
            with reader:
                columns = reader.columns()
                missing = [c for c in [self.updated_at, *self.key] if c not in columns]
                if missing:
                    raise ConnectorError(
                        f"{self.spec.id}: {self.where}: column(s) {', '.join(missing)} needed for "
                        f"incremental keyset reads are not in the table (columns: {', '.join(columns)})")
                self.drift.note(set(columns), self.spec.column_names)
                names = ([c for c in self.spec.column_names if c in columns]
                         + [c for c in columns if c not in self.spec.column_names])
                window = self._safe_window(reader, window)
                reader.begin_snapshot()
                yield from self._pages(reader, names, window)
                if self.deletes:
                    yield from self._tombstones(reader, window, names)
                reader.end_snapshot()
        except ConnectorError:
            raise
        except Exception as exc:  # noqa: BLE001 - driver errors become one clear message
            if not reader.is_driver_error(exc):
                raise
            raise ConnectorError(
                f"{self.spec.id}: {self.where}: read failed after {self.rows:,} rows: "
                f"{type(exc).__name__}: {str(exc).strip()}") from exc

    def _safe_window(self, reader: _Reader, window: Window) -> Window:
        """The window with `until` lowered to what cannot change any more (see the module
        docstring); read before the snapshot is taken, so a transaction running then is seen."""
        source_now, oldest = reader.clock_and_oldest_transaction()
        digits = [reader.precision(self.table, self.updated_at)]
        if self.deletes:
            digits.append(reader.precision(str(self.deletes.get("table", "deleted_records")),
                                           str(self.deletes.get("deleted_at_column", "deleted_at"))))
        known = [d for d in digits if d is not None]
        until = safe_until(window.until, source_now, oldest, min(known) if known else None)
        if window.since is not None and until < window.since:
            until = window.since  # nothing safe to read yet; the watermark stays
        self.bound = {"until_asked": window.until.isoformat(),
                      "source_now": source_now.isoformat() if source_now else None,
                      "oldest_running_transaction": oldest.isoformat() if oldest else None,
                      "until": until.isoformat()}
        self.window = Window(since=window.since, until=until)
        return self.window

    def _page_tables(self, reader: _Reader, names: list[str], window: Window,
                     stop: threading.Event) -> Iterator[pa.Table]:
        order = [self.updated_at, *self.key]
        if self.paging == "cursor" or (self.paging == "auto" and window.since is None):
            yield from reader.stream(names, order, window, stop)
            return
        last: list[str] | None = None
        while not stop.is_set():
            table = reader.page(names, order, window, last)
            yield table
            if table.num_rows < self.batch_rows:
                return
            tail = table.slice(table.num_rows - 1).to_pylist()[0]
            last = [tail[c] for c in order]

    def _pages(self, reader: _Reader, names: list[str], window: Window) -> Iterator[pa.RecordBatch]:
        """Pages in order; the next page is read (by the database, in a thread) while the
        caller writes this one, so the database and the Parquet writer work at once."""
        for table in prefetched(lambda stop: self._page_tables(reader, names, window, stop),
                                depth=PREFETCH_PAGES, name=f"sql-pages-{self.spec.id}"):
            self.pages += 1
            self.rows += table.num_rows
            yield from table.to_batches()


    def _tombstones(self, reader: _Reader, window: Window,
                    names: list[str]) -> Iterator[pa.RecordBatch]:
        assert self.deletes is not None
        if len(self.key) != 1:
            raise ConnectorError(f"{self.spec.id}: deletes: a tombstone table holds one key "
                                 f"column; this table's key is {self.key}")
        table = reader.tombstones(window)
        self.tombstones = table.num_rows
        if not table.num_rows:
            return
        # Every column of the pages (NULL but the key and order_by), so a run holding only
        # deletions still has the table's columns (its schema is not a drift).
        given = {self.key[0]: table.column(0), self.updated_at: table.column(1)}
        tombstones = pa.table({
            **{n: given.get(n, pa.nulls(table.num_rows, pa.string())) for n in names},
            DELETED_COLUMN: pa.array(["true"] * table.num_rows, pa.string())})
        yield from tombstones.to_batches()


class _Reader:
    """One open connection to the source, reading pages as Arrow tables of strings."""

    def __init__(self, connector: SqlConnector) -> None:
        self.c = connector
        self._types: dict[str, dict[str, tuple[str, int | None]]] = {}

    def __enter__(self) -> _Reader:
        raise NotImplementedError

    def __exit__(self, *exc: object) -> None:
        raise NotImplementedError

    def is_driver_error(self, exc: BaseException) -> bool:
        raise NotImplementedError

    def columns(self) -> list[str]:
        raise NotImplementedError

    def page(self, names: list[str], order: list[str], window: Window,
             last: list[str] | None) -> pa.Table:
        raise NotImplementedError

    def stream(self, names: list[str], order: list[str], window: Window,
               stop: threading.Event) -> Iterator[pa.Table]:
        raise NotImplementedError

    def tombstones(self, window: Window) -> pa.Table:
        raise NotImplementedError

    def clock_and_oldest_transaction(self) -> tuple[datetime | None, datetime | None]:
        """The source's clock and the start of its oldest transaction that may still
        commit rows (None when there is none), as instants."""
        raise NotImplementedError

    def column_types(self, table: str) -> dict[str, tuple[str, int | None]]:
        """Column -> (data type in lower case, fractional-second digits or None)."""
        raise NotImplementedError

    def precision(self, table: str, column: str) -> int | None:
        if table not in self._types:
            self._types[table] = self.column_types(table)
        return self._types[table].get(column, ("", None))[1]

    def is_naive(self, table: str, column: str) -> bool:
        """A timestamp column stored without a zone (its values are in the spec's zone)."""
        if table not in self._types:
            self._types[table] = self.column_types(table)
        return self._types[table].get(column, ("", None))[0] in NAIVE_TYPES

    def begin_snapshot(self) -> None:
        """Every read until end_snapshot sees one consistent, read-only snapshot."""
        raise NotImplementedError

    def end_snapshot(self) -> None:
        raise NotImplementedError


NAIVE_TYPES = frozenset({"timestamp without time zone", "datetime"})


def _keyset_sql(order: list[str], quote: Any) -> str:
    """(a, b, c) > (x, y, z) written out lexicographically (MariaDB does not use an index for
    row comparisons); parameters: x; x, y; x, y, z."""
    terms = []
    for i, col in enumerate(order):
        eq = [f"{quote(order[j])} = %s" for j in range(i)]
        terms.append("(" + " AND ".join([*eq, f"{quote(col)} > %s"]) + ")")
    return "(" + " OR ".join(terms) + ")"


class _PostgresReader(_Reader):
    def __enter__(self) -> _PostgresReader:
        import psycopg

        u = self.c.url
        self.psycopg = psycopg
        try:
            self.con = psycopg.connect(
                host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username,
                password=u.password, dbname=u.database, connect_timeout=10,
                options="-c TimeZone=UTC -c DateStyle=ISO", autocommit=True)
        except psycopg.Error as exc:
            raise ConnectorError(f"{self.c.spec.id}: cannot connect to {self.c.where}: "
                                 f"{str(exc).strip()}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self.psycopg.Error)

    def _q(self, name: str) -> str:
        """A quoted identifier inside a statement template (its `{}` are placeholders for
        literals, so braces in a name, `a{}b`, are doubled)."""
        return '"' + name.replace('"', '""').replace("{", "{{").replace("}", "}}") + '"'

    def columns(self) -> list[str]:
        with self.con.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.tables WHERE table_name = %s",
                        (self.c.table,))
            if cur.fetchone() is None:
                raise ConnectorError(f"{self.c.spec.id}: {self.c.where}: the table does not exist")
            quoted = '"' + self.c.table.replace('"', '""') + '"'
            cur.execute(f"SELECT * FROM {quoted} LIMIT 0")
            return [d.name for d in cur.description or []]

    def column_types(self, table: str) -> dict[str, tuple[str, int | None]]:
        with self.con.cursor() as cur:
            cur.execute("SELECT column_name, data_type, datetime_precision FROM "
                        "information_schema.columns WHERE table_name = %s AND "
                        "table_schema = ANY (current_schemas(false))", (table,))
            return {str(n): (str(t).lower(), None if p is None else int(p))
                    for n, t, p in cur.fetchall()}

    def clock_and_oldest_transaction(self) -> tuple[datetime | None, datetime | None]:
        # Any open transaction of this database may still commit rows stamped at or after its
        # start (now() is the transaction's start; clock_timestamp() later still).
        with self.con.cursor() as cur:
            # A prepared two-phase transaction has left pg_stat_activity and its start is not
            # known (only when it was prepared): while one exists, nothing is safe to pass.
            cur.execute("SELECT clock_timestamp(), least((SELECT min(xact_start) FROM "
                        "pg_stat_activity WHERE datname = current_database() AND pid <> "
                        "pg_backend_pid() AND xact_start IS NOT NULL AND backend_type = "
                        "'client backend'), (SELECT '1970-01-01'::timestamptz FROM "
                        "pg_prepared_xacts WHERE database = current_database() LIMIT 1))")
            row = cur.fetchone()
        return (row[0], row[1]) if row else (None, None)

    def begin_snapshot(self) -> None:
        self.con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def end_snapshot(self) -> None:
        self.con.execute("COMMIT")

    def _zone(self) -> str:
        name = zone_sql_name(self.c.zone)
        return f"INTERVAL '{name}'" if zone_is_offset(self.c.zone) else f"'{name}'"

    def _mark(self, table: str, column: str) -> str:
        """A parameter holding an instant, in the column's own terms."""
        if self.is_naive(table, column):
            return f"({{}}::timestamptz AT TIME ZONE {self._zone()})"
        return "{}::timestamptz"

    def _value(self, table: str, column: str, alias: str = "t") -> str:
        """A column as text; a naive timestamp as the instant it means in the spec's zone."""
        if self.is_naive(table, column):
            return f"({alias}.{self._q(column)} AT TIME ZONE {self._zone()})::text"
        return f"{alias}.{self._q(column)}::text"

    def _copy_blocks(self, select: str, params: list[object], names: list[str],
                     rows_per_block: int | None, stop: threading.Event | None = None
                     ) -> Iterator[pa.Table]:
        """Stream `COPY (select) TO STDOUT` as CSV, parsed in blocks of whole rows. The
        server sends one CopyData message per row, so a block cut between messages never
        splits a row (not even one with a newline inside a quoted value)."""
        from psycopg import sql

        statement = sql.SQL(f"COPY ({select}) TO STDOUT (FORMAT csv)").format(
            *[sql.Literal(p) for p in params]).as_bytes(self.con)
        pg = self._start_copy(statement)
        # Rows straight from libpq: psycopg's Copy iterator costs ~1 us of Python per row,
        # this loop ~0.4 us, and the client shares two cores with the server and the writer.
        get, wait, consume = pg.get_copy_data, self._wait_readable, pg.consume_input
        buffer = io.BytesIO()
        write = buffer.write
        rows = 0
        while True:
            size, data = get(1)
            if size > 0:
                write(data)
                rows += 1
                if rows_per_block and rows >= rows_per_block:
                    yield _parse_csv(buffer, names)
                    buffer, rows = io.BytesIO(), 0
                    write = buffer.write
                    if stop is not None and stop.is_set():
                        return  # mid-COPY: the connection is closed by __exit__, never reused
            elif size == 0:
                wait()
                consume()
            else:
                break
        self._end_copy()
        if rows or rows_per_block is None:
            yield _parse_csv(buffer, names)

    def _wait_readable(self) -> None:
        select.select([self.con.pgconn.socket], [], [])

    def _result(self) -> Any:
        pg = self.con.pgconn
        while pg.is_busy():
            self._wait_readable()
            pg.consume_input()
        return pg.get_result()

    def _start_copy(self, statement: bytes) -> Any:
        """Send a COPY TO and wait for the server to start it (on the libpq connection)."""
        pq, errors = self.psycopg.pq, self.psycopg.errors
        pg = self.con.pgconn
        pg.send_query(statement)
        while pg.flush():
            select.select([], [pg.socket], [])
        result = self._result()
        if result is None or result.status != pq.ExecStatus.COPY_OUT:
            while self._result() is not None:
                pass
            if result is not None and result.status == pq.ExecStatus.FATAL_ERROR:
                raise errors.error_from_result(result)
            raise self.psycopg.OperationalError(f"COPY did not start (status {result and result.status})")
        return pg

    def _end_copy(self) -> None:
        pq, errors = self.psycopg.pq, self.psycopg.errors
        failed = None
        while (result := self._result()) is not None:
            if result.status != pq.ExecStatus.COMMAND_OK and failed is None:
                failed = result
        if failed is not None:
            raise errors.error_from_result(failed)

    def _copy(self, select: str, params: list[object], names: list[str]) -> pa.Table:
        return next(self._copy_blocks(select, params, names, None))

    def _window(self, column: str, window: Window, table: str | None = None
                ) -> tuple[str, list[object]]:
        mark = self._mark(table or self.c.table, column)
        clauses, params = [f"t.{self._q(column)} <= {mark}"], [window.until.isoformat()]
        if window.since is not None:
            clauses.insert(0, f"t.{self._q(column)} > {mark}")
            params.insert(0, window.since.isoformat())
        return " AND ".join(clauses), params

    def page(self, names: list[str], order: list[str], window: Window,
             last: list[str] | None) -> pa.Table:
        where, params = self._window(order[0], window)
        if last is not None:  # a row comparison: PostgreSQL turns it into an index range
            marks = ", ".join([self._mark(self.c.table, order[0]), *["{}"] * (len(order) - 1)])
            where += f" AND ({', '.join('t.' + self._q(o) for o in order)}) > ({marks})"
            params += last
        return self._copy(self._select(names, order, where, self.c.batch_rows), params, names)

    def _select(self, names: list[str], order: list[str] | None, where: str,
                limit: int | None) -> str:
        # Qualified with the table alias: a bare name in ORDER BY would be the ::text output
        # column, sorted as text and without the (updated_at, key) index.
        cols = ", ".join(f"{self._value(self.c.table, n)} AS {self._q(n)}" for n in names)
        return (f"SELECT {cols} FROM {self._q(self.c.table)} AS t WHERE {where}"
                + (f" ORDER BY {', '.join('t.' + self._q(o) for o in order)}" if order else "")
                + (f" LIMIT {limit}" if limit else ""))

    def stream(self, names: list[str], order: list[str], window: Window,
               stop: threading.Event) -> Iterator[pa.Table]:
        where, params = self._window(order[0], window)
        # One statement is one snapshot: no order needed (publish picks the newest per key),
        # so PostgreSQL reads the table sequentially instead of sorting it.
        yield from self._copy_blocks(self._select(names, None, where, None), params, names,
                                     self.c.batch_rows, stop)

    def tombstones(self, window: Window) -> pa.Table:
        d = self.c.deletes or {}
        stamp = str(d.get("deleted_at_column", "deleted_at"))
        log = str(d.get("table", "deleted_records"))
        record_key = f"t.{self._q(str(d.get('key_column', 'record_key')))}"
        where, params = self._window(stamp, window, log)
        # A key live in this same snapshot was re-inserted or restored after its deletion:
        # the row is the source's latest word, the deletion-log row is superseded.
        select = (f"SELECT {record_key}::text, {self._value(log, stamp)} FROM {self._q(log)} "
                  f"AS t WHERE t.{self._q(str(d.get('table_column', 'table_name')))} = {{}} "
                  f"AND {where} AND NOT EXISTS (SELECT 1 FROM {self._q(self.c.table)} AS live "
                  f"WHERE live.{self._q(self.c.key[0])} = {record_key}) ORDER BY t.{self._q(stamp)}")
        return self._copy(select, [self.c.table, *params], ["key", "deleted_at"])


class _MariaDbReader(_Reader):
    def __enter__(self) -> _MariaDbReader:
        import pymysql
        import pymysql.cursors

        u = self.c.url
        self.pymysql = pymysql
        try:
            self.con = pymysql.connect(
                host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                password=u.password or "", database=u.database, charset="utf8mb4",
                connect_timeout=10, cursorclass=pymysql.cursors.SSCursor, autocommit=True)
        except pymysql.Error as exc:
            raise ConnectorError(f"{self.c.spec.id}: cannot connect to {self.c.where}: {exc}") from exc
        with self.con.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.con.close()
        except self.pymysql.Error:
            pass

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self.pymysql.Error)

    def _q(self, name: str) -> str:
        """A quoted identifier in a statement pymysql formats with `%` (so `x%s` -> `x%%s`)."""
        return "`" + name.replace("`", "``").replace("%", "%%") + "`"

    def columns(self) -> list[str]:
        with self.con.cursor() as cur:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE "
                        "table_schema = DATABASE() AND table_name = %s ORDER BY ordinal_position",
                        (self.c.table,))
            names = [str(r[0]) for r in cur.fetchall()]
        if not names:
            raise ConnectorError(f"{self.c.spec.id}: {self.c.where}: the table does not exist")
        return names

    def column_types(self, table: str) -> dict[str, tuple[str, int | None]]:
        with self.con.cursor() as cur:
            cur.execute("SELECT column_name, data_type, datetime_precision FROM "
                        "information_schema.columns WHERE table_schema = DATABASE() AND "
                        "table_name = %s", (table,))
            return {str(n): (str(t).lower(), None if p is None else int(p))
                    for n, t, p in cur.fetchall()}

    def clock_and_oldest_transaction(self) -> tuple[datetime | None, datetime | None]:
        # NOW() is a statement's time in MariaDB: only a transaction that wrote or is writing
        # can still commit rows stamped before now. trx_started is in the system time zone,
        # which UNIX_TIMESTAMP reads under time_zone = SYSTEM.
        with self.con.cursor() as cur:
            cur.execute("SET time_zone = 'SYSTEM'")
            cur.execute("SELECT UNIX_TIMESTAMP(NOW(6)), (SELECT UNIX_TIMESTAMP(MIN(trx_started)) "
                        "FROM information_schema.innodb_trx WHERE trx_mysql_thread_id <> "
                        "CONNECTION_ID() AND (trx_rows_modified > 0 OR trx_rows_locked > 0 "
                        "OR trx_query IS NOT NULL))")
            now, oldest = cur.fetchall()[0]
            cur.execute("SET time_zone = '+00:00'")

        def instant(epoch: object) -> datetime | None:
            return None if epoch is None else datetime.fromtimestamp(float(epoch), UTC)  # type: ignore[arg-type]

        # trx_started has whole seconds and is taken when InnoDB starts the transaction, just
        # after its first statement's NOW(); and INNODB_TRX is a cache refreshed every 0.1 s,
        # so a transaction younger than that may be missing from it: a second's margin on both.
        start, margin = instant(oldest), timedelta(seconds=1)
        clock = instant(now)
        return (clock - margin if clock else None), (start - margin if start else None)

    def begin_snapshot(self) -> None:
        with self.con.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    def end_snapshot(self) -> None:
        with self.con.cursor() as cur:
            cur.execute("COMMIT")

    def _zone(self, table: str, column: str) -> tzinfo:
        """DATETIME holds the spec zone's wall time; TIMESTAMP is read in UTC (the session)."""
        return self.c.zone if self.is_naive(table, column) else UTC

    def _text(self, value: object, zone: tzinfo) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, datetime):
            return as_instant(value, zone).isoformat(sep=" ")
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    def _param(self, instant: datetime | str, table: str, column: str) -> str:
        """An instant as the column's own wall-clock text (window bounds, keyset marks)."""
        if isinstance(instant, str):
            instant = datetime.fromisoformat(instant)
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        return local_naive(instant, self._zone(table, column)).isoformat(sep=" ")

    def _blocks(self, sql: str, params: list[object], names: list[str],
                rows_per_block: int | None, stop: threading.Event | None = None,
                table: str | None = None, columns: list[str] | None = None
                ) -> Iterator[pa.Table]:
        """The query's rows from the unbuffered cursor as tables of `rows_per_block` rows
        (all rows in one table when None), values as text; `columns` are the source columns
        of `table` behind `names` (their types say which zone a datetime is in)."""
        limit = rows_per_block or math.inf
        zones = [self._zone(table or self.c.table, c) for c in (columns or names)]
        with self.con.cursor() as cur:
            cur.execute(sql, params)
            read = 0
            while stop is None or not stop.is_set():
                out: list[list[str | None]] = [[] for _ in names]
                count = 0
                while count < limit and (rows := cur.fetchmany(int(min(MARIADB_CHUNK, limit - count)))):
                    for n, row in enumerate(rows):
                        for i, value in enumerate(row):
                            try:
                                out[i].append(self._text(value, zones[i]))
                            except UnicodeDecodeError as exc:
                                raise ConnectorError(
                                    f"{self.c.spec.id}: {self.c.where}: column {names[i]!r}, row "
                                    f"{read + count + n + 1:,} of this read (after "
                                    f"{self.c.rows:,} rows before it): bytes that are not UTF-8 "
                                    f"text ({exc.reason} at byte {exc.start}); the column "
                                    "must hold text, or be cast to text by the registry") from None
                    count += len(rows)
                read += count
                if count or rows_per_block is None:
                    yield pa.table([pa.array(c, pa.string()) for c in out], names=names)
                if count < limit:  # the result is exhausted
                    return

    def _stream(self, sql: str, params: list[object], names: list[str],
                table: str | None = None, columns: list[str] | None = None) -> pa.Table:
        return next(self._blocks(sql, params, names, None, table=table, columns=columns))

    def _window(self, column: str, window: Window, table: str | None = None
                ) -> tuple[str, list[object]]:
        table = table or self.c.table
        clauses, params = [f"{self._q(column)} <= %s"], [self._param(window.until, table, column)]
        if window.since is not None:
            clauses.insert(0, f"{self._q(column)} > %s")
            params.insert(0, self._param(window.since, table, column))
        return " AND ".join(clauses), params

    def page(self, names: list[str], order: list[str], window: Window,
             last: list[str] | None) -> pa.Table:
        where, params = self._window(order[0], window)
        if last is not None:
            stamp = self._param(last[0], self.c.table, order[0]) if last[0] else last[0]
            values = [stamp, *last[1:]]
            where += " AND " + _keyset_sql(order, self._q)
            for i in range(len(order)):
                params += values[: i + 1]
        sql = (f"SELECT {', '.join(self._q(n) for n in names)} FROM {self._q(self.c.table)} "
               f"WHERE {where} ORDER BY {', '.join(self._q(o) for o in order)} "
               f"LIMIT {self.c.batch_rows}")
        return self._stream(sql, params, names)

    def stream(self, names: list[str], order: list[str], window: Window,
               stop: threading.Event) -> Iterator[pa.Table]:
        where, params = self._window(order[0], window)
        sql = (f"SELECT {', '.join(self._q(n) for n in names)} FROM {self._q(self.c.table)} "
               f"WHERE {where}")
        yield from self._blocks(sql, params, names, self.c.batch_rows, stop)

    def tombstones(self, window: Window) -> pa.Table:
        d = self.c.deletes or {}
        stamp = str(d.get("deleted_at_column", "deleted_at"))
        log = str(d.get("table", "deleted_records"))
        record_key = self._q(str(d.get("key_column", "record_key")))
        where, params = self._window(stamp, window, log)
        # A key live in this same snapshot supersedes its deletion-log rows (see PostgreSQL).
        sql = (f"SELECT {record_key}, {self._q(stamp)} FROM {self._q(log)} AS t "
               f"WHERE {self._q(str(d.get('table_column', 'table_name')))} = %s AND {where} "
               f"AND NOT EXISTS (SELECT 1 FROM {self._q(self.c.table)} AS live "
               f"WHERE live.{self._q(self.c.key[0])} = t.{record_key}) ORDER BY {self._q(stamp)}")
        return self._stream(sql, [self.c.table, *params], ["key", "deleted_at"],
                            table=log, columns=[record_key.strip("`"), stamp])


def _parse_csv(buffer: io.BytesIO, names: list[str]) -> pa.Table:
    if not buffer.tell():
        return pa.table({n: pa.array([], pa.string()) for n in names})
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True,
            quoted_strings_can_be_null=False, null_values=[""]),
    )


@register("sql", required=("dsn", "table"), params={
    "dsn": "text", "table": "text", "key": "list", "updated_at": "text", "batch_rows": "int",
    "deletes": "mapping", "naive_timezone": "text", "paging": ("auto", "keyset", "cursor")})
def build_sql(spec: DatasetSpec, params: dict[str, Any]) -> SqlConnector:
    return SqlConnector(spec, params)
