"""Raw -> curated row shape, as DuckDB SQL derived from the spec.

A column marked `normalize: identifier` arrives normalised (the gate's source query does it,
so the checks see the same value) with its value as delivered in <name>_raw.
Typed columns are cast by `expectations.rules.typed_value`, the expression the `castable`
check uses (the gate has already quarantined values that are not complete values of their
type; one left would fail the cast, never become NULL), text
marked `normalize: nfc` is NFC-normalised with the value as delivered kept in <name>_raw,
and every curated row carries the run that published it. Timestamps are stored as instants
(UTC): a value with an offset is that instant; a value without one is wall-clock time of the
spec's `source.params.timezone` (default UTC; connectors/safe_window.py), whatever the reader.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo

import pyarrow as pa

from catalog.spec import DatasetSpec
from expectations.rules import COMBINING_MARKS, declares_zone, typed_value
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

RUN_COLUMN = "_run_id"
RAW_SUFFIX = "_raw"
"""<name>_raw: a normalised column's value as delivered."""
INGESTED_COLUMN = "_ingested_at"

_ARROW = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


_WITH_OFFSET = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|UTC|[+-]\d{2}(:?\d{2})?)$"
"""A timestamp text that names its offset (2026-11-01T08:00:00+07:00, ...Z)."""


def instant_sql(column: str, zone: tzinfo, cast: str = "CAST") -> str:
    """`column` (text) as a TIMESTAMPTZ: its own offset, or else wall time in `zone` (an IANA
    zone through DuckDB's ICU; a fixed offset by arithmetic, which ICU does not take)."""
    from connectors.safe_window import zone_is_offset, zone_sql_name

    naive = f"{cast}(trim({column}) AS TIMESTAMP)"
    if zone_is_offset(zone):
        minutes = int((zone.utcoffset(None) or timedelta(0)).total_seconds()) // 60
        wall = f"timezone('UTC', {naive} - INTERVAL {minutes} MINUTE)"
    else:
        wall = f"timezone({lit(zone_sql_name(zone))}, {naive})"
    return (f"CASE WHEN regexp_matches(trim({column}), {lit(_WITH_OFFSET)}) "
            f"THEN {cast}(trim({column}) AS TIMESTAMPTZ) ELSE {wall} END")


def naive_zone(spec: DatasetSpec) -> tzinfo:
    from connectors.safe_window import source_zone

    return source_zone(spec.source.params, spec.id)


def curated_select(spec: DatasetSpec, run_id: str, lenient: bool = False) -> str:
    """SELECT list turning raw string columns into curated typed columns. `lenient` turns a
    value that is not of its type into NULL instead of an error (for tombstones, which carry
    only the key and order column)."""
    cast = "TRY_CAST" if lenient else "CAST"
    zone = naive_zone(spec)
    naive_ok = declares_zone(spec)
    parts = []
    for col in spec.columns:
        c = q(col.name)
        if col.type == "string":
            value = (f"CASE WHEN regexp_matches({c}, '[{COMBINING_MARKS}]') "
                     f"THEN nfc_normalize(trim({c})) ELSE trim({c}) END"
                     if col.normalize == "nfc" else c)
            parts.append(f"{value} AS {c}")
            if col.normalize == "nfc":
                parts.append(f"{c} AS {q(col.name + RAW_SUFFIX)}")
            elif col.normalize == "identifier":  # normalised by the gate's source query
                parts.append(f"{q(col.name + RAW_SUFFIX)} AS {q(col.name + RAW_SUFFIX)}")
        elif col.type == "timestamp":
            value = typed_value(col.name, col.type, strict=not lenient, naive_ok=naive_ok,
                                convert=instant_sql(c, zone, cast))
            parts.append(f"CAST(({value}) AT TIME ZONE 'UTC' AS TIMESTAMP) AS {c}")
        else:
            parts.append(f"{typed_value(col.name, col.type, strict=not lenient)} AS {c}")
    parts.append(f"{lit(run_id)} AS {q(RUN_COLUMN)}")
    parts.append(f"CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) AS {q(INGESTED_COLUMN)}")
    return ", ".join(parts)


def curated_arrow_schema(spec: DatasetSpec) -> pa.Schema:
    fields = []
    for col in spec.columns:
        arrow_type = _ARROW[col.type]
        if col.type == "timestamp":
            arrow_type = pa.timestamp("us")
        fields.append(pa.field(col.name, arrow_type, nullable=True))
        if col.normalize is not None:
            fields.append(pa.field(col.name + RAW_SUFFIX, pa.string(), nullable=True))
    fields.append(pa.field(RUN_COLUMN, pa.string(), nullable=True))
    fields.append(pa.field(INGESTED_COLUMN, pa.timestamp("us"), nullable=True))
    return pa.schema(fields)


def quarantine_arrow_schema(spec: DatasetSpec) -> pa.Schema:
    fields = [pa.field(c.name, pa.string(), nullable=True) for c in spec.columns]
    fields += [
        pa.field("_row", pa.int64(), nullable=True),
        pa.field(RUN_COLUMN, pa.string(), nullable=True),
        pa.field("_rules", pa.string(), nullable=True),
        pa.field("_reasons", pa.string(), nullable=True),
        pa.field(INGESTED_COLUMN, pa.timestamp("us"), nullable=True),
    ]
    return pa.schema(fields)
