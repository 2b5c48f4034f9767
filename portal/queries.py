"""What each page shows, assembled from the catalogue (control database), the open-data
exports and the gate results of each published run - plain functions, no HTTP, so tests and
the benchmark call them directly.

Only counts, names of checks and open exports reach a page: quarantine reasons (which quote
the bad values) and curated rows are never read here. A dataset that is not open data gets
a page with its description, schema and quality, never rows or files.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from catalog import catalogue
from control.models import CatalogDataset, CatalogDistribution, CatalogRun
from lgsp.config import Settings
from opendata import vocabularies as vocab
from opendata.ckan_search import fold
from opendata.exports import current_distributions, sample_rows
from opendata.formats import FORMATS

PER_PAGE = 10
_cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}
_stamps: dict[str, tuple[float, tuple[Any, ...]]] = {}
STAMP_TTL = 1.0
"""Seconds a worker reuses the catalogue stamp before asking again: a publish shows within it."""


def catalogue_stamp(settings: Settings) -> tuple[Any, ...]:
    """What changes whenever the catalogue, a run or an export changes: one small query.
    Page data is cached per worker process under this stamp, so a publish shows at once."""
    from sqlalchemy import func, select

    from control import db
    from control.models import CatalogExportRefusal

    with db.session(settings) as s:
        row = s.execute(select(
            select(func.max(CatalogDataset.updated_at)).scalar_subquery(),
            select(func.count()).select_from(CatalogDataset).scalar_subquery(),
            select(func.count()).select_from(CatalogRun).scalar_subquery(),
            select(func.max(CatalogDistribution.created_at)).scalar_subquery(),
            select(func.count()).select_from(CatalogDistribution).scalar_subquery(),
            select(func.count()).select_from(CatalogExportRefusal).scalar_subquery())).one()
    return (settings.control_db_uri, *row)


def current_stamp(settings: Settings) -> tuple[Any, ...]:
    """The catalogue stamp, asked again at most every STAMP_TTL seconds per process."""
    import time

    uri = settings.control_db_uri
    now = time.monotonic()
    seen = _stamps.get(uri)
    if seen is None or now - seen[0] >= STAMP_TTL:
        seen = (now, catalogue_stamp(settings))
        _stamps[uri] = seen
    return seen[1]


def cached(settings: Settings, key: tuple[Any, ...], build: Any) -> Any:
    """`build()` once per catalogue stamp (per process)."""
    stamp = current_stamp(settings)
    hit = _cache.get(key + (settings.control_db_uri,))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = build()
    _cache[key + (settings.control_db_uri,)] = (stamp, value)
    return value


PAGE_CACHE_SIZE = 256
"""Rendered pages kept per process (least recently used dropped): keys carry the Host and
query string a client sends, so the cache is bounded, not one entry per distinct request."""
_pages: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = OrderedDict()
_pages_lock = threading.Lock()


def cached_page(settings: Settings, key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
    """A rendered page's bytes, built once per catalogue stamp and `key` (which must hold
    everything else the page shows: language, base URL, query, the freshness as displayed).
    A publish changes the stamp, so the next request renders anew."""
    stamp = current_stamp(settings)
    full = key + (settings.control_db_uri,)
    with _pages_lock:
        hit = _pages.get(full)
        if hit is not None and hit[0] == stamp:
            _pages.move_to_end(full)
            return hit[1]
    body = build()
    with _pages_lock:
        _pages[full] = (stamp, body)
        _pages.move_to_end(full)
        while len(_pages) > PAGE_CACHE_SIZE:
            _pages.popitem(last=False)
    return body


SORTS = ("relevance", "title", "modified", "quality")
FACETS = ("agency", "theme", "format", "licence", "frequency")


# ---------------------------------------------------------------------------- summaries
@dataclass
class Summary:
    """One dataset as a list or search result shows it."""

    id: str
    title: str
    description: str
    owner: str
    owner_slug: str
    theme: str
    theme_title: str
    licence: str
    frequency: str
    open_data: bool
    formats: list[str]
    quality_score: float | None
    last_publish: datetime | None
    max_age_days: int | None
    keywords: list[str]
    haystack: str = field(repr=False, default="")
    title_folded: str = field(repr=False, default="")

    @property
    def overdue(self) -> bool:
        """Now, not when cached: the same rule as `catalogue.freshness`."""
        if self.last_publish is None or self.max_age_days is None:
            return False
        return (datetime.now(UTC) - self.last_publish).total_seconds() / 86400 > self.max_age_days


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def summarise(settings: Settings, entry: CatalogDataset, lang: str) -> Summary:
    runs = catalogue.runs(settings, entry.id)
    formats = [d.format for d in current_distributions(settings, entry.id)] if entry.open_data else []
    en = lang == "en"
    title = entry.title_en if en else entry.title_vi
    description = entry.description_en if en else entry.description_vi
    columns = " ".join(f"{c['name']} {c['description']['vi']} {c['description']['en']}"
                       for c in entry.schema)
    hay = fold(" ".join([entry.id, entry.title_vi, entry.title_en, entry.description_vi,
                         entry.description_en, " ".join(entry.keywords), columns,
                         entry.owner_vi, entry.owner_en]))
    return Summary(
        id=entry.id, title=title, description=description,
        owner=entry.owner_en if en else entry.owner_vi, owner_slug=entry.owner_slug,
        theme=entry.theme, theme_title=vocab.THEME_TITLES.get(entry.theme, (entry.theme,) * 2)[en],
        licence=entry.licence, frequency=entry.update_frequency, open_data=entry.open_data,
        formats=formats, quality_score=runs[-1].quality_score if runs else None,
        last_publish=_aware(runs[-1].published_at) if runs else None,
        max_age_days=entry.max_age_days, keywords=list(entry.keywords),
        haystack=hay, title_folded=fold(title))


def summaries(settings: Settings, lang: str) -> list[Summary]:
    return cached(settings, ("summaries", lang), lambda: [  # type: ignore[no-any-return]
        summarise(settings, e, lang) for e in catalogue.entries(settings, open_only=False)])


# ---------------------------------------------------------------------------- search
@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@dataclass
class SearchResult:
    q: str
    sort: str
    page: int
    pages: int
    count: int
    results: list[Summary]
    facets: dict[str, list[FacetValue]]
    filters: dict[str, list[str]]


def _facet_values(s: Summary, facet: str) -> list[tuple[str, str]]:
    if facet == "agency":
        return [(s.owner_slug, s.owner)]
    if facet == "theme":
        return [(s.theme, s.theme_title)]
    if facet == "format":
        return [(f, FORMATS[f].title) for f in s.formats]
    if facet == "licence":
        return [(s.licence, s.licence)]
    if facet == "frequency":
        return [(s.frequency, s.frequency)]
    raise ValueError(f"unknown facet {facet!r}")


def words_of(q: str) -> list[str]:
    return [w for w in re.split(r"[^\w]+", fold(q)) if w]


def search(settings: Settings, lang: str, q: str = "", filters: dict[str, list[str]] | None = None,
           sort: str = "relevance", page: int = 1, per_page: int = PER_PAGE,
           items: list[Summary] | None = None) -> SearchResult:
    """Every word of `q` (diacritics folded: "dan so" finds "dân số") in a dataset's titles,
    descriptions, keywords, owner or column names and descriptions; facet filters ANDed
    across facets, ORed within one; facet counts over the text matches with the other
    facets' filters applied (so each count is what a click would give)."""
    filters = {k: v for k, v in (filters or {}).items() if k in FACETS and v}
    sort = sort if sort in SORTS else "relevance"
    words = words_of(q)
    pool = items if items is not None else summaries(settings, lang)
    scored: list[tuple[Summary, int]] = []
    for s in pool:
        if all(re.search(rf"\b{re.escape(w)}", s.haystack) for w in words):
            score = sum(s.haystack.count(w) + 3 * (w in s.title_folded) for w in words)
            scored.append((s, score))

    def passes(s: Summary, skip: str | None = None) -> bool:
        for facet, wanted in filters.items():
            if facet != skip and not {v for v, _ in _facet_values(s, facet)} & set(wanted):
                return False
        return True

    facets: dict[str, list[FacetValue]] = {}
    for facet in FACETS:
        counts: dict[str, list[Any]] = {}
        for s, _ in scored:
            if passes(s, skip=facet):
                for value, label in _facet_values(s, facet):
                    counts.setdefault(value, [label, 0])[1] += 1
        for value in filters.get(facet, []):
            counts.setdefault(value, [value, 0])
        facets[facet] = sorted((FacetValue(v, lab, n, v in filters.get(facet, []))
                                for v, (lab, n) in counts.items()), key=lambda f: (-f.count, f.label))
    matched = [(s, sc) for s, sc in scored if passes(s)]
    epoch = datetime.min.replace(tzinfo=UTC)
    if sort == "title":
        matched.sort(key=lambda p: p[0].title_folded)
    elif sort == "modified":
        matched.sort(key=lambda p: (p[0].last_publish or epoch, p[0].id), reverse=True)
    elif sort == "quality":
        matched.sort(key=lambda p: (p[0].quality_score if p[0].quality_score is not None else -1,
                                    p[0].id), reverse=True)
    else:
        matched.sort(key=lambda p: (-p[1], p[0].title_folded))
    pages = max(1, math.ceil(len(matched) / per_page))
    page = min(max(1, page), pages)
    chunk = [s for s, _ in matched[(page - 1) * per_page: page * per_page]]
    return SearchResult(q, sort, page, pages, len(matched), chunk, facets, filters)


# ---------------------------------------------------------------------------- quality
@dataclass
class Check:
    name: str
    rule: str
    severity: str
    description: str
    failed_rows: int
    columns: list[str]
    other_dataset: str | None = None


def gate_checks(settings: Settings, dataset: str, run_id: str) -> list[Check]:
    """The checks of one run's gate with the rows each failed (never the reasons: they
    quote the values), worst first. Empty when the run left no gate result."""
    path = settings.quality_dir / dataset / run_id / "gate.json"
    if not path.exists():
        return []
    gate = json.loads(path.read_text("utf-8"))
    out = []
    for c in gate.get("checks", []):
        name = str(c["name"])
        other = name.rsplit(":", 1)[-1] if c.get("rule") == "exists_in" else None  # exists_in:<col>:<dataset>
        out.append(Check(name, c.get("rule", ""), c.get("severity", ""),
                         c.get("description") or "", int(c.get("failed_rows") or 0),
                         list(c.get("columns") or []), other))
    return sorted(out, key=lambda c: (-c.failed_rows, c.name))


# ---------------------------------------------------------------------------- dataset page
@dataclass
class Version:
    run: CatalogRun
    files: list[CatalogDistribution]


@dataclass
class DatasetView:
    entry: CatalogDataset
    summary: Summary
    runs: list[CatalogRun]
    freshness: catalogue.Freshness
    checks: list[Check]
    downloads: list[CatalogDistribution]
    versions: list[Version]
    preview: list[dict[str, Any]]
    preview_columns: list[str]
    api_key: str | None = None
    """The agency API's key column (a one-column primary key), None: no agency API."""
    api_key_example: str | None = None
    """A key value for the example: from the open preview, else a placeholder."""


def _kept_files(settings: Settings, dataset: str) -> dict[int, list[CatalogDistribution]]:
    from sqlalchemy import select

    from control import db

    with db.session(settings) as s:
        rows = list(s.scalars(select(CatalogDistribution)
                              .where(CatalogDistribution.dataset_id == dataset)
                              .order_by(CatalogDistribution.format)))
    out: dict[int, list[CatalogDistribution]] = {}
    for d in rows:
        out.setdefault(d.snapshot_id, []).append(d)
    return out


def dataset_view(settings: Settings, dataset: str, lang: str) -> DatasetView | None:
    """The dataset page's data: cached per catalogue stamp, freshness computed per call."""
    view = cached(settings, ("dataset", dataset, lang), lambda: _dataset_view(settings, dataset, lang))
    if view is None:
        return None
    return replace(view, freshness=freshness_now(view.entry, view.runs))


def freshness_now(entry: CatalogDataset, runs: list[CatalogRun], now: datetime | None = None
                  ) -> catalogue.Freshness:
    """`catalogue.freshness` from the runs already read (its rule: overdue past the
    frequency's days, stale open data past Decree 47/2020's three months), as of now."""
    last = _aware(runs[-1].published_at) if runs else None
    if last is None:
        return catalogue.Freshness(None, None, False, False)
    age = ((now or datetime.now(UTC)) - last).total_seconds() / 86400
    return catalogue.Freshness(last, age, entry.max_age_days is not None and age > entry.max_age_days,
                               entry.open_data and age > vocab.OPEN_DATA_MAX_AGE_DAYS)


def _dataset_view(settings: Settings, dataset: str, lang: str) -> DatasetView | None:
    entry = catalogue.entry(settings, dataset)
    if entry is None:
        return None
    runs = catalogue.runs(settings, dataset)
    summary = summarise(settings, entry, lang)
    checks = [c for c in gate_checks(settings, dataset, runs[-1].run_id) if c.failed_rows] if runs else []
    downloads = current_distributions(settings, dataset) if entry.open_data else []
    kept = _kept_files(settings, dataset) if entry.open_data else {}
    versions = [Version(r, kept.get(r.snapshot_id or -1, [])) for r in reversed(runs)]
    preview = sample_rows(settings, dataset, limit=10) if entry.open_data else []
    columns = list(preview[0]) if preview else []
    key = _agency_api_key(settings, dataset)
    example = None
    if key is not None:
        shown = preview[0].get(key) if preview and key in columns else None
        example = str(shown) if shown is not None else f"<{key}>"
    return DatasetView(entry, summary, runs, catalogue.freshness(settings, entry), checks,
                       downloads, versions, preview, columns, key, example)


def _agency_api_key(settings: Settings, dataset: str) -> str | None:
    """The key column the agency API looks records up by: datasets with a spec (the API
    serves those, not the indicators) and a one-column primary key."""
    from catalog.spec import SpecError, get_spec

    try:
        spec = get_spec(dataset, settings.specs_dir)
    except (SpecError, OSError):
        return None
    return spec.primary_key[0] if len(spec.primary_key) == 1 else None


# ---------------------------------------------------------------------------- agency scorecard
@dataclass
class AgencyDataset:
    summary: Summary
    runs: list[CatalogRun]
    checks: list[Check]

    @property
    def trend(self) -> float | None:
        if len(self.runs) < 2:
            return None
        return self.runs[-1].quality_score - self.runs[-2].quality_score


@dataclass
class Failing:
    dataset: str
    check: Check
    runs_failed: int


@dataclass
class AgencyView:
    slug: str
    name: str
    datasets: list[AgencyDataset]
    top_failing: list[Failing]
    quarantine_by_reason: list[Failing]
    mismatches: list[Failing]


def agency_view(settings: Settings, slug: str, lang: str) -> AgencyView | None:
    return cached(settings, ("agency", slug, lang),  # type: ignore[no-any-return]
                  lambda: _agency_view(settings, slug, lang))


def _agency_view(settings: Settings, slug: str, lang: str) -> AgencyView | None:
    entries = [e for e in catalogue.entries(settings, open_only=False) if e.owner_slug == slug]
    if not entries:
        return None
    name = entries[0].owner_en if lang == "en" else entries[0].owner_vi
    datasets: list[AgencyDataset] = []
    failing: list[Failing] = []
    for e in entries:
        runs = catalogue.runs(settings, e.id)
        latest = gate_checks(settings, e.id, runs[-1].run_id) if runs else []
        datasets.append(AgencyDataset(summarise(settings, e, lang), runs, latest))
        history = [{c.name for c in gate_checks(settings, e.id, r.run_id) if c.failed_rows}
                   for r in runs[-20:]]
        for c in latest:
            if c.failed_rows:
                failing.append(Failing(e.id, c, sum(c.name in h for h in history)))
    failing.sort(key=lambda f: (-f.check.failed_rows, f.dataset, f.check.name))
    return AgencyView(
        slug, name, datasets, failing[:10],
        [f for f in failing if f.check.severity == "quarantine"],
        [f for f in failing if f.check.rule == "exists_in"])


def agencies(items: list[Summary]) -> list[tuple[str, str, int]]:
    """(slug, name, datasets) of every owner agency, by name."""
    out: dict[str, list[Any]] = {}
    for s in items:
        out.setdefault(s.owner_slug, [s.owner, 0])[1] += 1
    return sorted(((k, v[0], v[1]) for k, v in out.items()), key=lambda t: fold(t[1]))


# ---------------------------------------------------------------------------- gaps
GAP_INDICATORS = ("children_without_card_by_commune", "enterprises_without_insured_staff_by_commune",
                  "enterprises_by_commune_status")
"""Shown in this order when their indicator spec exists (opendata/indicator_specs): the two
service gaps (from the gaps dataset) and the enterprises by status for context."""


@dataclass
class GapTable:
    dataset: str
    title: str
    description: str
    row_name: str
    columns: list[str]
    rows: list[tuple[str, list[Any]]]
    available: bool
    labels: dict[str, str] = field(default_factory=dict)
    """Header of a column other than its category value (the measure, for a lone total)."""


def _indicator_rows(settings: Settings, dataset: str) -> list[dict[str, Any]]:
    from warehouse import duck
    from warehouse.duck import quote_literal as lit

    parquet = next((d for d in current_distributions(settings, dataset) if d.format == "parquet"), None)
    if parquet is None:
        return []
    with duck.connection(memory_limit="128MB", threads=1) as con:
        cur = con.execute(f"SELECT * FROM read_parquet({lit(str(settings.home / parquet.path))})")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def gap_tables(settings: Settings, lang: str) -> list[GapTable]:
    return cached(settings, ("gaps", lang), lambda: _gap_tables(settings, lang))  # type: ignore[no-any-return]


def _gap_tables(settings: Settings, lang: str) -> list[GapTable]:
    """The open indicators the province reads as service gaps, pivoted by commune from
    their open export (aggregated and suppressed by opendata; nothing else is read)."""
    from opendata.indicators import load_indicators

    specs = {i.id: i for i in load_indicators()}
    out = []
    for dataset in GAP_INDICATORS:
        ind = specs.get(dataset)
        entry = catalogue.entry(settings, dataset)
        if ind is None:
            continue
        title = (ind.title.en if lang == "en" else ind.title.vi)
        description = (ind.description.en if lang == "en" else ind.description.vi)
        records = _indicator_rows(settings, dataset) if entry is not None else []
        row_key = ind.rows.name
        col_keys = [c.name for c in ind.columns]
        measure = ind.measure.name
        columns: list[str] = []
        table: dict[str, dict[str, Any]] = {}
        for r in records:
            col = " / ".join(str(r.get(k)) if r.get(k) is not None else "TOTAL" for k in col_keys)
            if col not in columns:
                columns.append(col)
            row = str(r.get(row_key)) if r.get(row_key) is not None else "TOTAL"
            table.setdefault(row, {})[col] = r.get(measure)
        columns = ["TOTAL" if c.lower() == "total" else c for c in columns]
        table = {("TOTAL" if k.lower() == "total" else k): {("TOTAL" if c.lower() == "total" else c): x
                                                           for c, x in v.items()}
                 for k, v in table.items()}
        columns.sort(key=lambda c: (c == "TOTAL", c))
        labels: dict[str, str] = {}
        if columns[:-1] and all(v.get(c) == v.get("TOTAL") for v in table.values() for c in columns):
            columns = ["TOTAL"]  # one category (the filter's): its column is the total
            labels["TOTAL"] = ind.measure.description.en if lang == "en" else ind.measure.description.vi
        rows = sorted(((k, [v.get(c) for c in columns]) for k, v in table.items()),
                      key=lambda kv: (kv[0] == "TOTAL", kv[1][-1] is None,  # most gaps first,
                                      -(kv[1][-1] or 0), kv[0]))          # hidden ones last
        out.append(GapTable(dataset, title, description, row_key, columns, rows, bool(records), labels))
    return out
