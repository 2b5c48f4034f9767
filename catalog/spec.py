"""Dataset specs: the one declarative file per dataset, loaded into typed models.

A spec (catalog/datasets/<id>.yaml) is the single source of truth for a dataset. The
Airflow DAG, the quality suite, the curated Iceberg schema and the catalogue entry are all
derived from it. This module owns the schema of that file and its loading; errors name the
file, the key path and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Classification = Literal["public", "internal", "personal", "sensitive-personal"]
ColumnType = Literal["string", "int", "float", "bool", "date", "timestamp"]
Severity = Literal["quarantine", "critical", "warn"]
"""quarantine: the row goes to quarantine; critical: any failure blocks the publish;
warn: counted and reported (e.g. a referential check across registries), the row goes on."""

DATASETS_DIR = Path(__file__).parent / "datasets"
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it: ~10x the pure-Python one (specs load at every
DAG parse and CLI start)."""
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(ValueError):
    """A dataset spec is invalid; the message names the file, key and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A label in Vietnamese (the data's language) and English (the switch)."""

    vi: str
    en: str


class Column(_Strict):
    name: str
    type: ColumnType = "string"
    description: Text
    classification: Classification = "internal"
    required: bool = False
    normalize: Literal["nfc", "identifier"] | None = None
    """`nfc`: the curated value is NFC-normalised text. `identifier`: a code (personal ID, tax
    code, card number...) cleared of harmless noise before any check sees it: surrounding
    blanks (no-break and other Unicode spaces too), NFC, full-width characters and any
    Unicode digit as ASCII (expectations.rules.identifier_sql). Either way the value as
    delivered is kept in <name>_raw."""

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"column name {value!r} must be lower_snake_case")
        return value

    @model_validator(mode="after")
    def _normalize_strings_only(self) -> Column:
        if self.normalize is not None and self.type != "string":
            raise ValueError(f"normalize: {self.normalize} applies to string columns; "
                             f"{self.name!r} is {self.type}")
        return self


class Check(_Strict):
    """One quality rule. `rule` names an entry in expectations.rules; the rest are its
    arguments. Row-level failures quarantine the row; `critical` failures block the publish."""

    model_config = ConfigDict(extra="allow", frozen=True)
    rule: str
    column: str | None = None
    columns: list[str] | None = None
    severity: Severity = "quarantine"
    description: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def target_columns(self) -> list[str]:
        return list(self.columns or ([self.column] if self.column else []))


_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
               "kib": 2**10, "mib": 2**20, "gib": 2**30}
_BYTES = re.compile(r"^\s*([0-9][0-9_]*)\s*([a-zA-Z]*)\s*$")


def _byte_count(value: Any) -> Any:
    """`64 MiB`, `500kB` or a plain integer, as a number of bytes."""
    if isinstance(value, str):
        match = _BYTES.match(value)
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _BYTE_UNITS:
            raise ValueError(f"{value!r} is not a size (e.g. 64 MiB, 500 kB, 1000000)")
        return int(match.group(1).replace("_", "")) * _BYTE_UNITS[unit]
    return value


Bytes = Annotated[int, BeforeValidator(_byte_count), Field(gt=0)]


class Limits(_Strict):
    """What one run may take from its source before it is refused (a broken or hostile
    registry costs one failed run with a message naming the limit, never a dead worker).
    Defaults suit a province: pages of ~10,000 records of a few kB each, daily runs."""

    max_response_bytes: Bytes = 64 * 2**20
    """Bytes of one HTTP response on the wire (REST, SOAP)."""
    max_decompressed_bytes: Bytes = 256 * 2**20
    """Bytes of one HTTP response after gzip/deflate decoding."""
    page_size_margin: float = Field(1.5, ge=1)
    """A page may hold at most page_size x margin records."""
    request_seconds: float = Field(300, gt=0)
    """Wall-clock deadline of one request, body included (a byte a second is not alive)."""
    run_seconds: float = Field(4 * 3600, gt=0)
    """Wall-clock deadline of one extract; the Airflow task timeouts derive from it."""
    max_pages: int = Field(100_000, gt=0)
    """Pages (requests that succeed) per run: a cursor loop ends here at the latest."""
    max_depth: int = Field(32, ge=3, le=500)
    """Nesting depth of a JSON page or of the elements inside one XML record."""
    max_cell_bytes: Bytes = 1 * 2**20
    """Bytes of one value (CSV field, XLSX cell, JSON or XML value, database column)."""
    xlsx_max_rows: int = Field(1_048_576, gt=0)
    """Rows of one sheet (Excel's own maximum by default)."""
    xlsx_max_columns: int = Field(16_384, gt=0)
    """Columns of one sheet (Excel's own maximum)."""
    xlsx_max_uncompressed_bytes: Bytes = 512 * 2**20
    """Sum of the declared uncompressed sizes of a workbook's zip members."""
    xlsx_max_compression_ratio: float = Field(200, gt=1)
    """Uncompressed/compressed size of one zip member (a zip bomb goes far beyond)."""


class Source(_Strict):
    """How the connector reaches the source registry. `connector` names a transport in
    connectors.registry; `params` are its arguments (strings may use ${ENV:-default}).
    `incremental: false` means every run delivers the complete dataset, so publishing
    replaces the table (keys absent from the run are gone) instead of merging."""

    connector: str
    params: dict[str, Any] = Field(default_factory=dict)
    incremental: bool = True
    inputs: list[str] = Field(default_factory=list)
    """Datasets this one is derived from; its DAG runs when any of them publishes."""
    limits: Limits = Field(default_factory=Limits)
    """Bounds on what a run takes from the source (sizes, deadlines, pages, nesting)."""


class Quality(_Strict):
    max_quarantine_rate: float = Field(0.2, ge=0, le=1)
    """Above this share of quarantined rows the source is considered broken: block."""
    min_rows: int = Field(0, ge=0)
    checks: list[Check] = Field(default_factory=list)


class Owner(_Strict):
    agency: Text
    contact: str | None = None


class DatasetSpec(_Strict):
    id: str
    title: Text
    description: Text
    owner: Owner
    source: Source
    schedule: str | None = "@daily"
    update_frequency: str = "daily"
    licence: str = "CC-BY-4.0"
    open_data: bool = False
    keywords: list[str] = Field(default_factory=list)
    theme: str | None = None
    """EU data theme (http://publications.europa.eu/resource/authority/data-theme/<CODE>, or
    the code), for the catalogue, CKAN groups and DCAT; none: GOVE (catalog.validation)."""
    primary_key: list[str]
    order_by: str | None = None
    """Column that says which of two records with the same key is newer (dedup, merge)."""
    columns: list[Column]
    quality: Quality = Field(default_factory=Quality)
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("id")
    @classmethod
    def _id_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"dataset id {value!r} must be lower_snake_case")
        return value

    @model_validator(mode="after")
    def _references(self) -> DatasetSpec:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns: duplicate column names {dupes}")
        known = set(names)
        for key in self.primary_key:
            if key not in known:
                raise ValueError(f"primary_key: {key!r} is not a declared column")
        if self.order_by and self.order_by not in known:
            raise ValueError(f"order_by: {self.order_by!r} is not a declared column")
        for i, check in enumerate(self.quality.checks):
            for col in check.target_columns:
                if col not in known:
                    raise ValueError(
                        f"quality.checks.{i} ({check.rule}): column {col!r} is not declared"
                    )
        return self

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def personal_columns(self) -> list[str]:
        return [
            c.name for c in self.columns if c.classification in ("personal", "sensitive-personal")
        ]


def _format_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid dataset spec"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        # A check across fields (model validator) has no location; its message starts
        # with the key path it is about.
        lines.append(f"  - {loc}: {msg}" if loc else f"  - {msg}")
    return "\n".join(lines)


def load_spec(path: str | Path) -> DatasetSpec:
    """Load and validate one spec file; raise SpecError naming file, key and problem.

    Beyond the schema, everything a run would reject or ignore is checked here (see
    catalog.validation): schedule, transport and its parameters, rules and their parameters,
    the columns and datasets they name (other specs of the same folder)."""
    from catalog import validation

    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)  # noqa: S506
    except FileNotFoundError:
        raise SpecError(f"{path}: no such dataset spec file") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a dataset spec must be a mapping, got {type(data).__name__}")
    try:
        spec = DatasetSpec.model_validate({**data, "path": path})
    except ValidationError as err:
        raise SpecError(_format_error(path, err)) from None
    if spec.id != path.stem:
        raise SpecError(f"{path}: id: {spec.id!r} must match the file name {path.stem!r}")
    found = validation.problems(spec, path.parent)
    if found:
        raise SpecError("\n".join([f"{path}: invalid dataset spec"] + [f"  - {p}" for p in found]))
    return spec


@dataclass(frozen=True)
class Catalog:
    """The specs of a folder: those that load, and the error of each one that does not."""

    specs: list[DatasetSpec]
    errors: dict[Path, SpecError]

    @property
    def ids(self) -> set[str]:
        return {s.id for s in self.specs}


def load_catalog(directory: str | Path | None = None) -> Catalog:
    """Every spec of a folder, each on its own: one malformed file is reported, not fatal."""
    directory = Path(directory) if directory else DATASETS_DIR
    specs, errors = [], {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            specs.append(load_spec(path))
        except SpecError as err:
            errors[path] = err
    return Catalog(specs=specs, errors=errors)


def load_specs(directory: str | Path | None = None) -> list[DatasetSpec]:
    """All specs in a folder, sorted by id; any bad file fails the load, naming each one
    (commands that can go on without it use load_catalog)."""
    catalog = load_catalog(directory)
    if catalog.errors:
        raise SpecError("\n".join(str(e) for e in catalog.errors.values()))
    return catalog.specs


def get_spec(dataset_id: str, directory: str | Path | None = None) -> DatasetSpec:
    directory = Path(directory) if directory else DATASETS_DIR
    return load_spec(directory / f"{dataset_id}.yaml")


def dependencies(spec: DatasetSpec) -> set[str]:
    """Datasets this one reads: derived inputs and the targets of referential checks."""
    deps = set(spec.source.inputs)
    for check in spec.quality.checks:
        if check.rule == "exists_in" and "dataset" in check.params:
            deps.add(str(check.params["dataset"]))
    deps.discard(spec.id)
    return deps


def in_dependency_order(specs: list[DatasetSpec]) -> list[DatasetSpec]:
    """Specs ordered so every dataset comes after those it reads (stable by id otherwise);
    a cycle is an error naming the datasets in it."""
    by_id = {s.id: s for s in specs}
    ordered: list[DatasetSpec] = []
    done: set[str] = set()
    visiting: list[str] = []

    def visit(spec_id: str) -> None:
        if spec_id in done or spec_id not in by_id:
            return
        if spec_id in visiting:
            cycle = visiting[visiting.index(spec_id):] + [spec_id]
            raise SpecError(f"dataset dependency cycle: {' -> '.join(cycle)}")
        visiting.append(spec_id)
        for dep in sorted(dependencies(by_id[spec_id])):
            visit(dep)
        visiting.pop()
        done.add(spec_id)
        ordered.append(by_id[spec_id])

    for spec_id in sorted(by_id):
        visit(spec_id)
    return ordered
