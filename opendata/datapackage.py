"""A Frictionless data package (datapackage.json) describing one export: the Table Schema
derived from the spec's open columns (types, vi/en descriptions, primary key) and one
resource per file (format, media type, encoding, bytes, sha256)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catalog.spec import DatasetSpec
from opendata.formats import FORMATS, TIMESTAMP_FORMAT
from opendata.vocabularies import LICENCES

if TYPE_CHECKING:
    from opendata.exports import ExportManifest

STREAM_CHECKED = frozenset({"csv", "csv-bom", "ndjson", "xlsx"})
"""Formats whose `bytes` and `hash` `frictionless validate` verifies. For Parquet and the JSON
array it cannot (its readers bypass the byte stream), so both sit under the `lgsp` key."""
TABLE_SCHEMA_TYPES = {"string": "string", "int": "integer", "float": "number", "bool": "boolean",
                      "date": "date", "timestamp": "datetime"}


def table_schema(spec: DatasetSpec, columns: list[str]) -> dict[str, Any]:
    fields = []
    for name in columns:
        col = spec.column(name)
        item: dict[str, Any] = {"name": name, "type": TABLE_SCHEMA_TYPES[col.type],
                                "title": col.description.vi, "description": col.description.en}
        if col.type == "timestamp":
            item["format"] = TIMESTAMP_FORMAT
        if col.required:
            item["constraints"] = {"required": True}
        fields.append(item)
    schema: dict[str, Any] = {"fields": fields}
    if all(k in columns for k in spec.primary_key):
        schema["primaryKey"] = list(spec.primary_key)
    return schema


def datapackage(spec: DatasetSpec, manifest: ExportManifest) -> dict[str, Any]:
    schema = table_schema(spec, manifest.columns)
    licence = LICENCES.get(spec.licence)
    resources = []
    for f in manifest.files:
        fmt = FORMATS[f.format]
        name = f"{spec.id}-{f.format}".replace("_", "-")
        resource: dict[str, Any] = {
            "name": name, "path": f.path.rsplit("/", 1)[-1], "title": fmt.title,
            "profile": "tabular-data-resource", "format": fmt.frictionless_format,
            "mediatype": f.media_type, "schema": schema,
        }
        if f.format == "parquet":
            # Frictionless reads Parquet through pandas, where an empty integer becomes NaN.
            resource["schema"] = {**schema, "missingValues": ["", "nan"]}
        if f.format in STREAM_CHECKED:
            resource.update(bytes=f.byte_size, hash=f"sha256:{f.sha256}")
        else:  # frictionless reads these through a library, cannot count their bytes
            resource["lgsp"] = {"bytes": f.byte_size, "sha256": f.sha256}
        if fmt.encoding:
            resource["encoding"] = fmt.encoding
        if f.format.startswith("csv"):
            resource["dialect"] = {"delimiter": ",", "quoteChar": '"', "header": True}
        resources.append(resource)
    return {
        "profile": "tabular-data-package",
        "name": spec.id.replace("_", "-"),
        "title": spec.title.en,
        "description": spec.description.en,
        "version": str(manifest.snapshot_id),
        "created": manifest.exported_at,
        "keywords": list(spec.keywords),
        "licenses": [{"name": licence[1], "path": licence[3], "title": licence[2]}]
        if licence else [{"name": spec.licence}],
        "contributors": [{"title": spec.owner.agency.en, "role": "publisher"}],
        "resources": resources,
    }
