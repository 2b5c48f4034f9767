"""The portal's routes: thin handlers that call `portal.queries` and render a template.

Language: Vietnamese by default, `?lang=en` for English; every link a page makes keeps the
language (`u()` in templates) and every page links to itself in the other language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from lgsp.config import Settings
from portal import i18n, queries
from portal.svg import quality_chart

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _render(request: Request, name: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
    def u(path: str, **params: Any) -> str:
        pairs = [(k, v) for k, v in params.items() if v not in (None, "", [])]
        flat = [(k, item) for k, v in pairs for item in (v if isinstance(v, list) else [v])]
        if lang != i18n.DEFAULT:
            flat.append(("lang", lang))
        return path + ("?" + urlencode(flat) if flat else "")

    other = "en" if lang == "vi" else "vi"
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    if other != i18n.DEFAULT:
        query.append(("lang", other))
    switch_url = request.url.path + ("?" + urlencode(query) if query else "")
    return templates.TemplateResponse(request, name, {
        "t": i18n.text(lang), "lang": lang, "u": u, "switch_url": switch_url, "size": _size,
        **context}, status_code=status)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, lang: str | None = None) -> HTMLResponse:
    lang = i18n.lang_of(lang)
    items = queries.summaries(_settings(request), lang)
    recent = sorted([s for s in items if s.last_publish], key=lambda s: s.last_publish,  # type: ignore[arg-type,return-value]
                    reverse=True)[:6]
    return _render(request, "home.html", lang, items=items, recent=recent,
                   agencies=queries.agencies(items),
                   open_count=sum(s.open_data for s in items),
                   file_count=sum(len(s.formats) for s in items))


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, q: str = "", sort: str = "relevance", page: int = 1,
           lang: str | None = None) -> HTMLResponse:
    lang = i18n.lang_of(lang)
    filters = {f: request.query_params.getlist(f) for f in queries.FACETS}
    result = queries.search(_settings(request), lang, q=q, filters=filters, sort=sort, page=page)
    return _render(request, "search.html", lang, r=result, facets=queries.FACETS)


@router.get("/dataset/{dataset}", response_class=HTMLResponse)
def dataset(request: Request, dataset: str, lang: str | None = None) -> HTMLResponse:
    lang = i18n.lang_of(lang)
    view = queries.dataset_view(_settings(request), dataset, lang)
    if view is None:
        return _render(request, "not_found.html", lang, status=404)
    t = i18n.text(lang)
    chart = quality_chart([(r.published_at, r.quality_score) for r in view.runs],
                          f"{t.quality_over_time}: {view.summary.title}", t.quality_chart_desc)
    return _render(request, "dataset.html", lang, v=view, s=view.summary, chart=chart,
                   base=str(request.base_url).rstrip("/"))


@router.get("/agency/{slug}", response_class=HTMLResponse)
def agency(request: Request, slug: str, lang: str | None = None) -> HTMLResponse:
    lang = i18n.lang_of(lang)
    view = queries.agency_view(_settings(request), slug, lang)
    if view is None:
        return _render(request, "not_found.html", lang, status=404)
    t = i18n.text(lang)
    charts = {d.summary.id: quality_chart([(r.published_at, r.quality_score) for r in d.runs],
                                          f"{t.quality_over_time}: {d.summary.title}",
                                          t.quality_chart_desc, width=480, height=140)
              for d in view.datasets}
    return _render(request, "agency.html", lang, a=view, charts=charts)


@router.get("/gaps", response_class=HTMLResponse)
def gaps(request: Request, lang: str | None = None) -> HTMLResponse:
    lang = i18n.lang_of(lang)
    return _render(request, "gaps.html", lang, tables=queries.gap_tables(_settings(request), lang))
