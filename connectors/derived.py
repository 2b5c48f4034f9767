"""Derived datasets: a DuckDB SQL query over other datasets' current curated snapshots.

Registered as `derived`. The query names its inputs as {dataset} placeholders; each becomes
a read of that dataset's current Iceberg snapshot files. The result streams out as Arrow
batches of strings, so a derived dataset goes through the same raw zone, gate and publish as
a registry (with `incremental: false`: each run is the complete dataset).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from catalog.spec import DatasetSpec
from connectors.base import ConnectorError, SchemaDrift, Window
from connectors.registry import register
from connectors.state import DatasetState
from lgsp.config import PROJECT_ROOT, Settings
from warehouse import duck

BATCH_ROWS = 100_000


class DerivedConnector:
    def __init__(self, spec: DatasetSpec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.drift = SchemaDrift()
        if "sql_file" in params:
            path = PROJECT_ROOT / str(params["sql_file"])
            self.sql = path.read_text("utf-8")
            self.where = str(path)
        else:
            self.sql = str(params["sql"])
            self.where = f"{spec.id}.source.params.sql"
        self.inputs = list(spec.source.inputs)

    def describe(self) -> dict[str, Any]:
        return {"connector": "derived", "inputs": self.inputs, "sql": self.where}

    def pending_state(self) -> dict[str, Any]:
        return {}

    def _resolved_sql(self, settings: Settings) -> str:
        from warehouse.query import snapshot_files

        sources: dict[str, str] = {}
        for name in self.inputs:
            files = snapshot_files(settings, "curated", name)
            if not files:
                raise ConnectorError(
                    f"{self.spec.id}: input dataset {name!r} has never been published; "
                    "run its pipeline first"
                )
            sources[name] = duck.parquet_source(files)
        try:
            return self.sql.format(**sources)
        except KeyError as exc:
            raise ConnectorError(f"{self.where}: {{{exc.args[0]}}} is not a declared input "
                                 f"(source.inputs: {self.inputs})") from None

    def extract(self, window: Window, state: DatasetState) -> Iterator[pa.RecordBatch]:
        settings = Settings.from_env()
        sql = self._resolved_sql(settings)
        expected = self.spec.column_names
        with duck.connection() as con:
            reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
            names = reader.schema.names
            self.drift.note(set(names), expected)
            ordered = [n for n in expected if n in names] + [n for n in names if n not in expected]
            for batch in reader:
                arrays = [_as_string(batch.column(batch.schema.get_field_index(n))) for n in ordered]
                yield pa.RecordBatch.from_arrays(arrays, names=ordered)


def _as_string(array: pa.Array) -> pa.Array:
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_timestamp(array.type):
        # curated timestamps are UTC without a zone: written with their offset, as the
        # `castable` rule requires of a timestamp
        return pc.strftime(array, format="%Y-%m-%dT%H:%M:%S" + ("%z" if array.type.tz else "Z"))
    return pc.cast(array, pa.string())


@register("derived", params={"sql_file": "text", "sql": "text"})
def build_derived(spec: DatasetSpec, params: dict[str, Any]) -> DerivedConnector:
    return DerivedConnector(spec, params)


