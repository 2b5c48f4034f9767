"""The portal's routes: thin handlers that call `portal.queries` and render a template.

Language: Vietnamese by default, `?lang=en` for English; every link a page makes keeps the
language (`u()` in templates) and every page links to itself in the other language.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from api import audit_writer, clients, grants, ratelimit
from api.models import ApiClient
from catalog.spec import DatasetSpec, SpecError, get_spec
from control import db
from lgsp.config import Settings
from opendata import vocabularies as vocab
from portal import i18n, quarantine, queries, session
from portal.svg import quality_chart

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))


def breakable(value: object) -> Markup:
    """Escaped text with a line-break opportunity after each `:` `_` `.` `-`, so a long
    check or column name wraps at its parts, not mid-word or by widening its table."""
    return Markup(re.sub(r"([:_.\-])", r"\1<wbr>", str(escape(value))))


templates.env.filters["breakable"] = breakable
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


def _render(request: Request, name: str, lang: str, status: int = 200,
            headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
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
        **context}, status_code=status, headers=headers)


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
           lang: str | None = None) -> Response:
    lang = i18n.lang_of(lang)
    settings = _settings(request)
    filters = {f: request.query_params.getlist(f) for f in queries.FACETS}

    def build() -> bytes:
        result = queries.search(settings, lang, q=q, filters=filters, sort=sort, page=page)
        return bytes(_render(request, "search.html", lang, r=result, facets=queries.FACETS).body)

    overdue = tuple(s.overdue for s in queries.summaries(settings, lang))  # "overdue" tags: now
    body = queries.cached_page(settings, ("search", str(request.url.query), lang,
                                          str(request.base_url), overdue), build)
    return HTMLResponse(body)


@router.get("/dataset/{dataset}", response_class=HTMLResponse)
def dataset(request: Request, dataset: str, lang: str | None = None) -> HTMLResponse:
    """Rendered once per publish (catalogue stamp), language, base URL and freshness as
    shown (overdue, stale, age in whole days); other query strings are rendered each time."""
    lang = i18n.lang_of(lang)
    settings = _settings(request)
    view = queries.dataset_view(settings, dataset, lang)
    if view is None:
        return _render(request, "not_found.html", lang, status=404)

    def build() -> bytes:
        t = i18n.text(lang)
        chart = quality_chart([(r.published_at, r.quality_score) for r in view.runs],
                              f"{t.quality_over_time}: {view.summary.title}", t.quality_chart_desc)
        return bytes(_render(request, "dataset.html", lang, v=view, s=view.summary, chart=chart,
                             base=str(request.base_url).rstrip("/")).body)

    query = str(request.url.query)
    if query not in ("", f"lang={lang}"):
        return HTMLResponse(build())
    f = view.freshness
    shown = (f.overdue, f.stale_open_data, None if f.age_days is None else f"{f.age_days:.0f}")
    return HTMLResponse(queries.cached_page(settings, ("dataset", dataset, lang, query,
                                                       str(request.base_url), shown), build))


@router.get("/agency/{slug}", response_class=HTMLResponse)
def agency(request: Request, slug: str, lang: str | None = None) -> HTMLResponse:
    """The scorecard: counts for everyone; the owner agency signed in also gets a link to
    each of its datasets' quarantined rows. Never kept by a shared cache (it varies)."""
    lang = i18n.lang_of(lang)
    settings = _settings(request)
    view = queries.agency_view(settings, slug, lang)
    if view is None:
        return _render(request, "not_found.html", lang, status=404)
    t = i18n.text(lang)
    charts = {d.summary.id: quality_chart([(r.published_at, r.quality_score) for r in d.runs],
                                          f"{t.quality_over_time}: {d.summary.title}",
                                          t.quality_chart_desc, width=480, height=140)
              for d in view.datasets}
    with db.session(settings) as s:
        client = session.signed_in(request, settings, s)
        owned = {d.summary.id for d in view.datasets
                 if client is not None and (spec := _spec(settings, d.summary.id)) is not None
                 and grants.quarantine_access(client, spec).allowed}
        signed = (client.id, client.name) if client is not None else None
    token, nonce = session.csrf_token(request, settings) if signed else ("", None)  # sign-out form
    response = _render(request, "agency.html", lang, headers=session.NO_STORE, a=view, charts=charts,
                       signed=signed, owned=owned, csrf=token)
    session.set_csrf(response, request, nonce)
    return response


def _spec(settings: Settings, dataset: str) -> DatasetSpec | None:
    """The dataset's spec (None for an indicator or an unknown id: no quarantine)."""
    try:
        return get_spec(dataset, settings.specs_dir) if dataset.isidentifier() else None
    except (SpecError, OSError):
        return None


@router.get("/agency/{slug}/quarantine/{dataset}", response_class=HTMLResponse)
def quarantine_rows(request: Request, slug: str, dataset: str, page: int = 1,
                    lang: str | None = None) -> Response:
    """The quarantined rows of a dataset, for its owner agency signed in (one decision:
    api.grants.quarantine_access); signed out: to the sign-in form; another agency: 403.
    Every view and every refusal is in the audit log."""
    lang = i18n.lang_of(lang)
    settings = _settings(request)
    spec = _spec(settings, dataset)
    with db.session(settings) as s:
        client = session.signed_in(request, settings, s)
        client_id = client.id if client is not None else None
        access = grants.quarantine_access(client, spec) if spec is not None else None
    if client_id is None:
        target = request.url.path + ("?" + request.url.query if request.url.query else "")
        params = {"next": target, **({"lang": lang} if lang != i18n.DEFAULT else {})}
        return RedirectResponse("/sign-in?" + urlencode(params), status_code=303,
                                headers=session.NO_STORE)
    if spec is None or slug != vocab.slug(spec.owner.agency.en):
        return _render(request, "not_found.html", lang, status=404, headers=session.NO_STORE)
    assert access is not None
    if not access.allowed:
        audit_writer.append(settings, actor=client_id, action="portal.quarantine.denied",
                            dataset=dataset, details={"reason": access.reason})
        return _render(request, "forbidden.html", lang, status=403, headers=session.NO_STORE)
    rows = quarantine.read_page(settings, spec, page)
    audit_writer.append(settings, actor=client_id, action="portal.quarantine.view", dataset=dataset,
                        query=f"page={rows.page}", snapshot_id=rows.snapshot_id,
                        row_count=len(rows.rows), personal_ids=rows.personal_ids(spec))
    token, nonce = session.csrf_token(request, settings)
    en = lang == "en"
    response = _render(request, "quarantine.html", lang, headers=session.NO_STORE, q=rows,
                       spec=spec, slug=slug, client_id=client_id, csrf=token,
                       title=spec.title.en if en else spec.title.vi,
                       owner=spec.owner.agency.en if en else spec.owner.agency.vi)
    session.set_csrf(response, request, nonce)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str | None = None, lang: str | None = None) -> HTMLResponse:
    return _sign_in_page(request, i18n.lang_of(lang), session.safe_next(next))


def _sign_in_page(request: Request, lang: str, target: str | None, error: str | None = None,
                  status: int = 200) -> HTMLResponse:
    token, nonce = session.csrf_token(request, _settings(request))
    response = _render(request, "sign_in.html", lang, status=status, headers=session.NO_STORE,
                       csrf=token, next=target, error=error)
    session.set_csrf(response, request, nonce)
    return response


async def _form(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > 8192:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, lang: str | None = None) -> Response:
    lang = i18n.lang_of(lang)
    settings = _settings(request)
    form = await _form(request)
    target = session.safe_next(form.get("next"))
    if not session.csrf_ok(request, settings, form):
        return _sign_in_page(request, lang, target, "csrf_failed", 403)
    cid = form.get("client_id", "").strip()[:100]
    if ratelimit.take("portal-sign-in:" + cid, SIGN_IN_PER_MINUTE) is not None:
        return _sign_in_page(request, lang, target, "sign_in_failed", 429)
    with db.session(settings) as s:
        client = clients.authenticate(s, cid, form.get("client_secret", ""))
        home = _home_of(settings, client) if client is not None else None
    if client is None:
        audit_writer.append(settings, actor="portal:anonymous", action="portal.sign_in.failed",
                            details={"client": cid})
        return _sign_in_page(request, lang, target, "sign_in_failed", 401)
    audit_writer.append(settings, actor=cid, action="portal.sign_in")
    fallback = "/agency/" + home if home else "/"
    if lang != i18n.DEFAULT and target is None:
        fallback += "?lang=" + lang
    response = RedirectResponse(target or fallback, status_code=303, headers=session.NO_STORE)
    session.start(response, request, settings, cid)
    return response


SIGN_IN_PER_MINUTE = 10
"""Sign-in attempts per client id and minute (per worker): a secret is not guessed here."""


def _home_of(settings: Settings, client: ApiClient) -> str | None:
    """The scorecard slug of the first dataset the client's agency owns."""
    from catalog.spec import load_catalog

    for spec in load_catalog(settings.specs_dir).specs:
        if grants.quarantine_access(client, spec).allowed:
            return vocab.slug(spec.owner.agency.en)
    return None


@router.post("/sign-out", response_class=HTMLResponse)
async def sign_out(request: Request, lang: str | None = None) -> Response:
    lang = i18n.lang_of(lang)
    settings = _settings(request)
    form = await _form(request)
    if not session.csrf_ok(request, settings, form):
        return _sign_in_page(request, lang, None, "csrf_failed", 403)
    cid = session.client_id_of(settings, request.cookies.get(session.SESSION_COOKIE))
    if cid is not None:
        audit_writer.append(settings, actor=cid, action="portal.sign_out")
    response = RedirectResponse("/" + ("?lang=" + lang if lang != i18n.DEFAULT else ""),
                                status_code=303, headers=session.NO_STORE)
    session.end(response, request)
    return response


@router.get("/gaps", response_class=HTMLResponse)
def gaps(request: Request, lang: str | None = None) -> HTMLResponse:
    lang = i18n.lang_of(lang)
    return _render(request, "gaps.html", lang, tables=queries.gap_tables(_settings(request), lang))
