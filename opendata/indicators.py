"""Open indicators: counts derived from the curated tables, published as open datasets with
small-count suppression.

An indicator is declared in `opendata/indicator_specs/<id>.yaml`: its source dataset, an
optional equality filter, a row dimension (published as it is, so a public column), column
dimensions (a closed list of categories, or age groups of a date of birth: only counts per
category leave, so these may be personal columns; `opendata.classification` decides), the
measure's name and the suppression threshold. The table is rows x (product of the column
categories), published in long form with its margins (the `total` rows) and nothing else,
so an attacker has exactly the margins the suppression audit protects against
(`opendata.suppression`). Suppressed counts are empty, with `suppressed = true`.

Indicators are linked when they count the same units - the same measure name over the same
filter - and share dimensions (same name, same categories or age groups), e.g. population by
commune x sex x age and coverage by commune x age x card: summed down to commune x age they
must agree, so an attacker holding both can difference them. Linked indicators are
suppressed together (`opendata.suppression.suppress_linked`: one audit over all of them,
whatever their number of hidden cells - no size above which it is skipped) and published
together.

`build_indicator()` computes an indicator and every indicator linked to it (transitively)
from their sources' current snapshots with DuckDB, suppresses them jointly and writes each
through the export machinery (every format, datapackage.json, the catalogue), version = its
source's snapshot.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from catalog.spec import Column, DatasetSpec, Owner, Source, SpecError, Text, get_spec
from lgsp.config import Settings
from opendata.classification import check_indicator_dimension
from opendata.exports import ExportManifest, NothingToExport, current_snapshot, export_files
from opendata.indicator_files import SPECS_DIR
from opendata.suppression import Link, SuppressedTable, suppress, suppress_linked
from opendata.vocabularies import theme_problem
from warehouse import duck
from warehouse.duck import quote_ident as q
from warehouse.duck import quote_literal as lit

TOTAL = "total"
OTHER = "other"
FLAG = "suppressed"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimension(_Strict):
    name: str
    column: str
    description: Text
    categories: list[str] | None = None
    age_groups: list[int] | None = None
    """Lower bounds of the age groups, ascending, starting at 0 (e.g. [0, 6, 15, 60])."""
    valid_on_reference: bool = False
    """A validity end date reduced to two categories: `valid` (on or after the reference
    date) or `none` (expired or absent), e.g. health-insurance coverage."""
    code_ranges: dict[str, str] | None = None
    """Categories of a code by its leading digits: label -> "lo-hi" (inclusive, compared on
    the code's first len(lo) characters), e.g. VSIC sections from 4-digit industry codes
    (C: "10-33"); a code in no range is `other`."""

    @model_validator(mode="after")
    def _one_kind(self) -> Dimension:
        if sum([self.categories is not None, self.age_groups is not None,
                self.valid_on_reference, self.code_ranges is not None]) > 1:
            raise ValueError(f"{self.name}: one of categories, age_groups, valid_on_reference, "
                             "code_ranges")
        for label, span in (self.code_ranges or {}).items():
            lo, _, hi = span.partition("-")
            if not (lo.isdigit() and hi.isdigit() and len(lo) == len(hi) and lo <= hi):
                raise ValueError(f"{self.name}: code_ranges.{label}: {span!r} is not "
                                 "\"lo-hi\" with two digit strings of one length, lo <= hi")
        if self.age_groups is not None and (self.age_groups[:1] != [0] or
                                            self.age_groups != sorted(set(self.age_groups))):
            raise ValueError(f"{self.name}: age_groups must ascend from 0")
        return self

    @property
    def coarsened(self) -> bool:
        return (self.categories is not None or self.age_groups is not None or self.binary
                or self.code_ranges is not None)

    @property
    def binary(self) -> bool:
        return self.valid_on_reference

    def labels(self) -> list[str]:
        if self.valid_on_reference:
            return ["valid", "none"]
        if self.age_groups is not None:
            bounds = self.age_groups
            return [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(bounds)] + [f"{bounds[-1]}+"]
        if self.code_ranges is not None:
            return list(self.code_ranges)
        return list(self.categories or [])

    def sql(self, reference: date) -> str:
        c = q(self.column)
        if self.valid_on_reference:
            return (f"CASE WHEN {c} >= DATE {lit(reference.isoformat())} THEN 'valid' "
                    f"ELSE 'none' END")
        if self.age_groups is not None:
            ref = f"DATE {lit(reference.isoformat())}"
            age = (f"(year({ref}) - year({c}) - CASE WHEN strftime({ref}, '%m%d') < "
                   f"strftime({c}, '%m%d') THEN 1 ELSE 0 END)")
            labels = self.labels()
            whens = " ".join(f"WHEN {age} >= {lo} THEN {lit(label)}"
                             for lo, label in reversed(list(zip(self.age_groups, labels, strict=True))))
            return f"CASE {whens} ELSE {lit(OTHER)} END"
        if self.code_ranges is not None:
            whens = []
            for label, span in self.code_ranges.items():
                lo, _, hi = span.partition("-")
                head = f"left(CAST({c} AS VARCHAR), {len(lo)})"
                whens.append(f"WHEN {head} BETWEEN {lit(lo)} AND {lit(hi)} THEN {lit(label)}")
            return f"CASE {' '.join(whens)} ELSE {lit(OTHER)} END"
        if self.categories is not None:
            listed = ", ".join(lit(v) for v in self.categories)
            return (f"CASE WHEN CAST({c} AS VARCHAR) IN ({listed}) THEN CAST({c} AS VARCHAR) "
                    f"ELSE {lit(OTHER)} END")
        return f"coalesce(CAST({c} AS VARCHAR), {lit(OTHER)})"


class Measure(_Strict):
    name: str
    description: Text


class IndicatorSpec(_Strict):
    id: str
    title: Text
    description: Text
    owner: Owner
    source: str
    filter: dict[str, str] = Field(default_factory=dict)
    rows: Dimension
    columns: list[Dimension] = Field(min_length=1)
    measure: Measure
    threshold: int = Field(ge=1)
    keywords: list[str] = Field(default_factory=list)
    licence: str = "CC-BY-4.0"
    theme: str | None = None
    """EU data theme (URI or code, as a dataset spec's `theme:`); none: the source's."""
    path: Path | None = Field(default=None, exclude=True)

    def as_dataset_spec(self, source: DatasetSpec) -> DatasetSpec:
        """The catalogue's view: an open dataset whose columns are the dimensions, the
        measure and the suppression flag, all public."""
        dims = [self.rows, *self.columns]
        columns = [Column(name=d.name, description=d.description, classification="public",
                          required=True) for d in dims]
        columns.append(Column(name=self.measure.name, type="int",
                              description=self.measure.description, classification="public"))
        columns.append(Column(name=FLAG, type="bool", classification="public", required=True,
                              description=Text(vi="Số liệu bị ẩn (số nhỏ)",
                                               en="Count suppressed (small count)")))
        return DatasetSpec(
            id=self.id, title=self.title, description=self.description, owner=self.owner,
            source=Source(connector="indicator", inputs=[self.source], incremental=False),
            schedule=None, update_frequency=source.update_frequency, licence=self.licence,
            open_data=True, keywords=self.keywords, theme=self.theme or source.theme,
            primary_key=[d.name for d in dims],
            columns=columns)


def load_indicator(path: Path) -> IndicatorSpec:
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
        spec = IndicatorSpec.model_validate({**data, "path": path})
    except (yaml.YAMLError, ValidationError, TypeError) as err:
        raise SpecError(f"{path}: invalid indicator spec: {err}") from None
    if spec.id != path.stem:
        raise SpecError(f"{path}: id {spec.id!r} must match the file name")
    problem = theme_problem(spec.theme)
    if problem:
        raise SpecError(f"{path}: theme: {problem}")
    return spec


def load_indicators(directory: Path | None = None) -> list[IndicatorSpec]:
    return [load_indicator(p) for p in sorted((directory or SPECS_DIR).glob("*.yaml"))]


def check_indicator(ind: IndicatorSpec, source: DatasetSpec) -> None:
    """Raise ClassificationError if a dimension or filter would let personal data out."""
    check_indicator_dimension(source, ind.rows.column, "row", ind.rows.coarsened)
    for dim in ind.columns:
        check_indicator_dimension(source, dim.column, "column", dim.coarsened, dim.binary)
    for column in ind.filter:
        check_indicator_dimension(source, column, "filter", True)


def compute_table(ind: IndicatorSpec, source: DatasetSpec, files: list[str], reference: date
                  ) -> SuppressedTable:
    """The counts per (row, column category), suppressed. Columns are the product of the
    dimensions' labels (and `other` where the data has values outside them)."""
    check_indicator(ind, source)
    where = " AND ".join(f"CAST({q(c)} AS VARCHAR) = {lit(v)}" for c, v in ind.filter.items())
    dims = ", ".join(f"{d.sql(reference)} AS {q('d' + str(i))}" for i, d in enumerate(ind.columns))
    with duck.connection() as con:
        rows = con.execute(
            f"SELECT CAST({q(ind.rows.column)} AS VARCHAR) AS r, {dims}, count(*) "
            f"FROM {duck.parquet_source(files)} {'WHERE ' + where if where else ''} "
            f"GROUP BY ALL").fetchall()
    counts: dict[tuple[str, tuple[str, ...]], int] = {}
    seen_other = [False] * len(ind.columns)
    for r, *rest in rows:
        *cats, n = rest
        for i, cat in enumerate(cats):
            seen_other[i] |= cat == OTHER
        counts[(r if r is not None else OTHER, tuple(cats))] = int(n)
    labels = [d.labels() + ([OTHER] if seen_other[i] else []) for i, d in enumerate(ind.columns)]
    cols = list(itertools.product(*labels))
    row_values = sorted({r for r, _ in counts})
    full = {(r, c): counts.get((r, c), 0) for r in row_values for c in cols}
    return suppress(full, row_values, cols, ind.threshold)  # type: ignore[arg-type]


def _same_dimension(a: Dimension, b: Dimension) -> bool:
    keep = {"name", "categories", "age_groups", "valid_on_reference", "code_ranges"}
    return a.model_dump(include=keep) == b.model_dump(include=keep)


def shared_dimensions(a: IndicatorSpec, b: IndicatorSpec) -> list[str]:
    """Names of the dimensions two indicators both publish with the same categories."""
    dims_b = {d.name: d for d in [b.rows, *b.columns]}
    return [d.name for d in [a.rows, *a.columns]
            if d.name in dims_b and _same_dimension(d, dims_b[d.name])]


def linked(a: IndicatorSpec, b: IndicatorSpec) -> bool:
    """Do `a` and `b` count the same units over shared dimensions (see the module doc)?"""
    return (a.id != b.id and a.measure.name == b.measure.name and a.filter == b.filter
            and bool(shared_dimensions(a, b)))


def linked_group(ind: IndicatorSpec, every: list[IndicatorSpec]) -> list[IndicatorSpec]:
    """`ind` and every indicator linked to it, directly or through others."""
    group, todo = [ind], [ind]
    while todo:
        current = todo.pop()
        for other in every:
            if linked(current, other) and all(other.id != g.id for g in group):
                group.append(other)
                todo.append(other)
    return group


def _key(ind: IndicatorSpec, names: list[str]):  # type: ignore[no-untyped-def]
    """Cell (row, column categories) -> its values of the dimensions `names`."""
    where = [("row", 0) if ind.rows.name == n else
             ("col", [d.name for d in ind.columns].index(n)) for n in names]
    return lambda cell: tuple(cell[0] if kind == "row" else cell[1][i] for kind, i in where)


def links_between(inds: list[IndicatorSpec]) -> list[Link]:
    out = []
    for i, a in enumerate(inds):
        for j in range(i + 1, len(inds)):
            b = inds[j]
            if linked(a, b):
                names = shared_dimensions(a, b)
                out.append(Link(i, j, _key(a, names), _key(b, names)))
    return out


def suppress_group(inds: list[IndicatorSpec], tables: list[SuppressedTable]
                   ) -> list[SuppressedTable]:
    """Suppress linked indicators' tables (each `compute_table`d) against their links: one
    joint audit over all of them, whatever their size (the default run's population x
    coverage, 1,527 hidden cells and margins, takes seconds: `opendata.suppression`)."""
    links = links_between(inds)
    if not links:  # each table on its own: small systems, not one joint one
        return [suppress_linked([t], [])[0] for t in tables]
    return suppress_linked(tables, links)


def table_records(ind: IndicatorSpec, t: SuppressedTable) -> pa.Table:
    names = [ind.rows.name, *(d.name for d in ind.columns), ind.measure.name, FLAG]
    out: dict[str, list[object]] = {n: [] for n in names}

    def add(row: str, cats: tuple[str, ...], value: int | None) -> None:
        out[ind.rows.name].append(row)
        for d, cat in zip(ind.columns, cats, strict=True):
            out[d.name].append(cat)
        out[ind.measure.name].append(value)
        out[FLAG].append(value is None)

    for r in t.rows:
        for c in t.cols:
            add(str(r), c, None if (r, c) in t.suppressed else t.counts[(r, c)])  # type: ignore[arg-type]
        add(str(r), (TOTAL,) * len(ind.columns), None if r in t.row_margins_hidden else t.row_total(r))
    for c in t.cols:
        add(TOTAL, c, None if c in t.col_margins_hidden else t.col_total(c))  # type: ignore[arg-type]
    add(TOTAL, (TOTAL,) * len(ind.columns), None if t.grand_hidden else t.grand_total)
    schema = pa.schema([*(pa.field(n, pa.string()) for n in names[:-2]),
                        pa.field(ind.measure.name, pa.int64()), pa.field(FLAG, pa.bool_())])
    return pa.table(out, schema=schema)


def build_indicator(ind: IndicatorSpec, settings: Settings, keep: int | None = None,
                    every: list[IndicatorSpec] | None = None) -> ExportManifest:
    """Compute `ind` and its linked indicators (those whose source is published), suppress
    them together and export each; returns `ind`'s manifest."""
    return build_group(ind, settings, keep, every)[ind.id]


def build_group(ind: IndicatorSpec, settings: Settings, keep: int | None = None,
                every: list[IndicatorSpec] | None = None) -> dict[str, ExportManifest]:
    """`build_indicator`, returning the manifest of every member exported (by id)."""
    group = linked_group(ind, every if every is not None else load_indicators())
    found = current_snapshot(settings, ind.source)
    if found is None:
        raise NothingToExport(f"{ind.id}: {ind.source} has no published snapshot yet")
    members, tables, sources, snaps = [], [], [], []
    for member in group:
        snap = found if member.id == ind.id else current_snapshot(settings, member.source)
        if snap is None:
            continue
        source = get_spec(member.source, settings.specs_dir)
        members.append(member)
        sources.append(source)
        snaps.append(snap)
        tables.append(compute_table(member, source, snap[2], snap[1].date()))
    suppress_group(members, tables)
    manifests: dict[str, ExportManifest] = {}
    for member, source, (snapshot_id, snapshot_at, _), t in zip(members, sources, snaps, tables,
                                                               strict=True):
        tmp = Path(tempfile.mkdtemp(prefix=f"{member.id}-", dir=settings.home))
        try:
            path = tmp / "table.parquet"
            pq.write_table(table_records(member, t), path)
            done = export_files(member.as_dataset_spec(source), settings, snapshot_id,
                                snapshot_at, [str(path)], keep, force=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        manifests[member.id] = done
    return manifests
