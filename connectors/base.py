"""The connector contract: what every transport implements, and the errors it raises.

A connector is built from a dataset spec and yields Arrow record batches whose columns are
the values as delivered (strings). It never holds a whole table: memory stays flat whatever
the source size. After extraction it reports schema drift (columns the source added or
stopped sending) so nothing is lost or changed silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from catalog.spec import DatasetSpec
from connectors.state import DatasetState

DELETED_COLUMN = "_deleted"


class ConnectorError(RuntimeError):
    """The source could not be read; the message says which source and why."""


class RetryBudgetExhausted(ConnectorError):
    """Transient failures outlasted the retry budget."""


@dataclass(frozen=True)
class DatabaseSource:
    """Where a database connector reads: the parsed DSN, the table, its key columns."""

    url: Any
    backend: str
    table: str
    key: list[str]


def database_source(spec: DatasetSpec, params: dict[str, Any], backends: dict[str, str],
                    transport: str) -> DatabaseSource:
    """Parse `source.params` of a database connector (`dsn`, `table`, optional `key`);
    `backends` maps the SQLAlchemy backend names accepted to the connector's own name."""
    from sqlalchemy.engine import make_url

    if "dsn" not in params or "table" not in params:
        raise ConnectorError(f"{spec.path or spec.id}: source.params needs 'dsn' and 'table'")
    url = make_url(str(params["dsn"]))
    backend = url.get_backend_name()
    if backend not in backends:
        raise ConnectorError(f"{spec.id}: source.params.dsn: {transport} reads "
                             f"{' or '.join(sorted(set(backends)))}, not {backend!r}")
    return DatabaseSource(url, backends[backend], str(params["table"]),
                          [str(k) for k in params.get("key", spec.primary_key)])


@dataclass(frozen=True)
class Window:
    """The extraction window: rows changed after `since` (exclusive) up to `until`."""

    since: datetime | None
    until: datetime

    def as_dict(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
        }


@dataclass
class SchemaDrift:
    extra_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    repeated_fields: list[str] = field(default_factory=list)
    """Fields a record named twice (JSON keys: the last value is kept): reported, not lost
    silently."""

    def note(self, seen: set[str], expected: list[str]) -> None:
        for name in sorted(seen - set(expected)):
            if name not in self.extra_columns:
                self.extra_columns.append(name)
        for name in expected:
            if name not in seen and name not in self.missing_columns:
                self.missing_columns.append(name)

    def note_repeated(self, names: list[str]) -> None:
        self.repeated_fields.extend(n for n in names if n not in self.repeated_fields)

    def as_dict(self) -> dict[str, list[str]]:
        out = {"extra_columns": self.extra_columns, "missing_columns": self.missing_columns}
        if self.repeated_fields:
            out["repeated_fields"] = self.repeated_fields
        return out


class Connector(Protocol):
    spec: DatasetSpec
    drift: SchemaDrift

    def describe(self) -> dict[str, Any]:
        """Where the data comes from, for the run manifest (no secrets)."""
        ...

    def extract(self, window: Window, state: DatasetState) -> Iterator[pa.RecordBatch]:
        """Yield batches of string columns: the spec's columns first, then any extra ones.

        A batch may carry a `_deleted` column ("true" marks a tombstone: the key, and the
        spec's order_by column, of a record the source deleted)."""
        ...

    def pending_state(self) -> dict[str, Any]:
        """Connector state to save when this run publishes (not before): e.g. the files
        ingested. Empty when the connector keeps none beyond the watermark."""
        ...


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def string_column(values: list[Any]) -> pa.Array:
    """An Arrow string array of values as delivered (numbers and objects become JSON text)."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_as_text(v) for v in values], pa.string())
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_null(array.type):
        return pa.nulls(len(values), pa.string())
    if pa.types.is_boolean(array.type) or pa.types.is_integer(array.type):
        return pc.cast(array, pa.string())
    return pa.array([_as_text(v) for v in values], pa.string())


def records_to_batch(records: list[dict[str, Any]], expected: list[str],
                     drift: SchemaDrift) -> pa.RecordBatch:
    """Column-wise batch from JSON-like records: declared columns, then extra ones seen."""
    seen: set[str] = set()
    for record in records:
        seen.update(record.keys())
    drift.note(seen, expected)
    names = expected + sorted(seen - set(expected))
    arrays = [string_column([r.get(name) for r in records]) for name in names]
    return pa.RecordBatch.from_arrays(arrays, names=names)
