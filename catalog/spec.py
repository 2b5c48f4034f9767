"""Dataset specs: the one declarative file per dataset, loaded into typed models.

A spec (catalog/datasets/<id>.yaml) is the single source of truth for a dataset. The
Airflow DAG, the quality suite, the curated Iceberg schema and the catalogue entry are all
derived from it. This module owns the schema of that file and its loading; errors name the
file, the key path and what is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Classification = Literal["public", "internal", "personal", "sensitive-personal"]
ColumnType = Literal["string", "int", "float", "bool", "date", "timestamp"]
Severity = Literal["quarantine", "critical", "warn"]
"""quarantine: the row goes to quarantine; critical: any failure blocks the publish;
warn: counted and reported (e.g. a referential check across registries), the row goes on."""

DATASETS_DIR = Path(__file__).parent / "datasets"
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
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def load_spec(path: str | Path) -> DatasetSpec:
    """Load and validate one spec file; raise SpecError naming file, key and problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such dataset spec file") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a dataset spec must be a mapping, got {type(data).__name__}")
    try:
        spec = DatasetSpec.model_validate({**data, "path": path})
    except ValidationError as err:
        raise SpecError(_format_error(path, err)) from None
    if spec.id != path.stem:
        raise SpecError(f"{path}: id: {spec.id!r} must match the file name {path.stem!r}")
    return spec


def load_specs(directory: str | Path | None = None) -> list[DatasetSpec]:
    """All specs in a folder, sorted by id. One bad file fails the whole load, by name."""
    directory = Path(directory) if directory else DATASETS_DIR
    return [load_spec(p) for p in sorted(directory.glob("*.yaml"))]


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
