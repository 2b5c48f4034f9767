"""The portal's pages, in process over a really published home: search (diacritics, facets,
sort, paging), the dataset page (downloads with the files' real sha256, schema, quality),
the agency scorecard, gaps, the language switch, and no personal value on any page."""

from __future__ import annotations

import hashlib
import re
from collections import deque
from urllib.parse import urljoin, urlparse
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from portal import i18n, queries
from tests.portal.conftest import PortalHome

PAGE = re.compile(r'href="(/[^"#]*)"')
NOT_PAGES = ("/download/", "/api/", "/catalog", "/portal-static/")


def result_ids(html: str) -> list[str]:
    return re.findall(r'<li class="card">\s*<h3><a href="/dataset/(\w+)', html)


def crawl(client: TestClient, starts: list[str], limit: int = 400) -> dict[str, str]:
    """Every portal page reachable from `starts` by the links the pages show."""
    seen: dict[str, str] = {}
    todo = deque(starts)
    while todo and len(seen) < limit:
        path = todo.popleft()
        if path in seen:
            continue
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        seen[path] = r.text
        for href in PAGE.findall(r.text):
            href = href.replace("&amp;", "&")
            if not href.startswith(NOT_PAGES) and href not in seen:
                todo.append(href)
    return seen


def test_search_without_diacritics_finds_the_same_as_with(client: TestClient) -> None:
    with_marks = result_ids(client.get("/search", params={"q": "dân cư"}).text)
    without = result_ids(client.get("/search", params={"q": "dan cu"}).text)
    assert "population" in with_marks
    assert with_marks == without
    upper = result_ids(client.get("/search", params={"q": "DOANH NGHIỆP"}).text)
    assert "business_registry" in upper


def test_search_covers_column_names_and_descriptions(client: TestClient) -> None:
    assert "business_registry" in result_ids(client.get("/search", params={"q": "sector_code"}).text)
    assert "population" in result_ids(client.get("/search", params={"q": "dinh danh ca nhan"}).text)
    none = client.get("/search", params={"q": "zzzqqq"})
    assert result_ids(none.text) == [] and i18n.VI["no_results"] in none.text


def test_facets_filter_and_count_what_a_click_gives(client: TestClient) -> None:
    everything = result_ids(client.get("/search").text)
    page = client.get("/search", params={"format": "parquet"}).text
    only_files = result_ids(page)
    assert "business_registry" in only_files and "population" not in only_files
    def results(html: str) -> int:
        return int(re.search(r'role="status">(\d+) ', html).group(1))  # type: ignore[union-attr]

    assert 0 < results(page) < results(client.get("/search").text)  # the facet narrows
    assert len(everything) == min(10, results(client.get("/search").text))
    # each facet link's count equals the number of results after following it
    for href, count in re.findall(r'<a class="facet" href="([^"]+)">[^<]*\((\d+)\)</a>', page)[:6]:
        followed = client.get(href.replace("&amp;", "&")).text
        assert re.search(rf'<h2 id="results-h"><span role="status">{count} ', followed), href


def test_sort_and_paging(client: TestClient) -> None:
    first = client.get("/search", params={"sort": "title"}).text
    count = int(re.search(r'role="status">(\d+) ', first).group(1))  # type: ignore[union-attr]
    ids = result_ids(first)
    assert len(ids) == min(count, 10)
    if count > 10:
        second = result_ids(client.get("/search", params={"sort": "title", "page": 2}).text)
        assert second and not set(second) & set(ids)
    quality = client.get("/search", params={"sort": "quality"}).text
    scores = [float(s) for s in re.findall(r'class="badge badge-\w+">[^:]+: ([\d.]+)%', quality)]
    assert scores == sorted(scores, reverse=True)


def test_dataset_page_downloads_carry_the_files_real_sha256(client: TestClient,
                                                            portal_home: PortalHome) -> None:
    html = client.get("/dataset/business_registry").text
    links = re.findall(r'<a href="(/download/[^"]+)" download data-format="([\w-]+)" '
                       r'data-sha256="(\w+)"', html)
    assert {f for _, f, _ in links} >= {"csv", "parquet", "xlsx", "json"}
    for href, _fmt, shown in links:
        body = client.get(href).content
        assert hashlib.sha256(body).hexdigest() == shown
        assert shown in html
    for section in ("schema-h", "quality-h", "downloads-h", "preview-h", "versions-h", "api-h"):
        assert f'id="{section}"' in html
    assert "owner_personal_id" in html.replace("<wbr>", "")  # the schema names it (personal, not open)
    assert "ckanapi" in html and "curl" in html


def test_dataset_page_chart_is_svg_with_a_point_per_publish(client: TestClient) -> None:
    html = client.get("/dataset/population").text
    svg = re.search(r"<svg .*?</svg>", html, re.S)
    assert svg is not None
    tree = ElementTree.fromstring(svg.group(0))
    dots = tree.findall("{http://www.w3.org/2000/svg}circle")
    versions = re.findall(r'<tr>\s*<th scope="row">\d{4}-\d\d-\d\d \d\d:\d\d</th>',
                          html.split('id="versions-h"')[1])
    assert len(dots) == len(versions) >= 1
    assert i18n.VI["not_open_text"] in html and "/download/population" not in html


def test_failing_checks_show_counts_on_dataset_and_scorecard(client: TestClient) -> None:
    html = client.get("/dataset/population").text
    html = html.replace("<wbr>", "")  # line-break opportunities in long names
    rows = re.findall(r'<th scope="row"><code>([\w.:-]+)</code></th><td class="num">([\d,]+)</td>', html)
    assert rows and all(int(n.replace(",", "")) > 0 for _, n in rows)
    home = client.get("/").text
    agency = re.search(r'href="(/agency/provincial-police[\w-]*)"', home)
    assert agency is not None
    card = client.get(agency.group(1)).text
    assert "population" in card and 'id="top-failing"' in card and 'id="quarantine"' in card


def test_every_page_switches_language(client: TestClient) -> None:
    pages = crawl(client, ["/"], limit=40)
    for path, html in pages.items():
        if "lang=en" in path:
            continue
        assert '<html lang="vi">' in html, path
        switch = re.search(r'<a class="lang" href="([^"]+)"', html)
        assert switch is not None, path
        english = client.get(switch.group(1).replace("&amp;", "&")).text
        assert '<html lang="en">' in english and i18n.EN["site"] in english, path
        back = re.search(r'<a class="lang" href="([^"]+)"', english)
        assert back is not None and "lang=" not in back.group(1), path
        # every other portal link of an English page stays in English
        for href in PAGE.findall(english):
            if not href.startswith(NOT_PAGES) and href != back.group(1):
                assert "lang=en" in href, (path, href)


def test_translation_tables_have_the_same_keys() -> None:
    assert set(i18n.VI) == set(i18n.EN)


def test_unknown_dataset_and_agency_are_404_pages(client: TestClient) -> None:
    for path in ("/dataset/nope", "/agency/nope"):
        r = client.get(path)
        assert r.status_code == 404 and i18n.VI["not_found"] in r.text


def test_gaps_page_shows_the_open_indicator_by_commune(client: TestClient) -> None:
    html = client.get("/gaps").text
    assert "enterprises_by_commune_status" in html
    assert re.search(r'<th scope="row">\d{5}</th>', html)  # commune codes


def _shown(html: str, dataset: str) -> dict[str, int | None]:
    """Commune (or "total") -> the count the gaps page shows (None: suppressed)."""
    table = html.split(f'<table id="t-{dataset}">')[1].split("</table>")[0]
    out: dict[str, int | None] = {}
    for row, cell in re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(.*?)</td>', table):
        key = "total" if row == i18n.VI["total"] else row
        out[key] = None if "•" in cell else int(cell.replace(",", ""))
    return out


@pytest.mark.parametrize(("dataset", "gap_type"), [
    ("enterprises_without_insured_staff_by_commune", "business_without_insured_employees"),
    ("children_without_card_by_commune", "child_under_6_without_health_card")])
def test_gap_indicators_equal_the_gaps_table_where_not_suppressed(
        client: TestClient, portal_home: PortalHome, dataset: str, gap_type: str) -> None:
    from collections import Counter

    from warehouse import iceberg

    gaps = iceberg.load_catalog(portal_home.settings).load_table((iceberg.CURATED, "gaps"))
    counts = Counter(r["commune_code"] for r in gaps.scan().to_arrow().to_pylist()
                     if r["gap_type"] == gap_type)
    assert counts, f"the fixture published {gap_type} gaps"
    shown = _shown(client.get("/gaps").text, dataset)
    assert set(shown) == set(counts) | {"total"}
    visible = {c: n for c, n in shown.items() if n is not None and c != "total"}
    assert visible, "some communes are above the threshold"
    assert visible == {c: counts[c] for c in visible}
    assert all(counts[c] < 5 or c in visible for c in counts) or None in shown.values()
    if shown["total"] is not None:
        assert shown["total"] == sum(counts.values())


def _personal_values(home: PortalHome) -> set[str]:
    """Every identifying value (in at most 3 rows: IDs, names, addresses - not a category
    like "Còn sống" that a check description may name) of a personal or sensitive-personal
    text column of the curated and quarantine tables, read back from the Iceberg tables."""
    from collections import Counter

    from warehouse import iceberg

    catalog = iceberg.load_catalog(home.settings)
    counts: Counter[str] = Counter()
    for spec in (home.business, home.population):
        columns = [c.name for c in spec.columns
                   if c.classification in ("personal", "sensitive-personal") and c.type == "string"]
        for namespace in (iceberg.CURATED, iceberg.QUARANTINE):
            if not catalog.table_exists((namespace, spec.id)):
                continue
            table = catalog.load_table((namespace, spec.id)).scan().to_arrow()
            for name in columns:
                if name in table.column_names:
                    counts.update(str(v) for v in table.column(name).to_pylist()
                                  if v is not None and len(str(v).strip()) >= 8)
    return {v for v, n in counts.items() if n <= 3}


def test_no_personal_value_on_any_public_page(client: TestClient, portal_home: PortalHome) -> None:
    values = _personal_values(portal_home)
    assert len(values) > POPULATION_ROWS_AT_LEAST  # IDs and names of people were published
    assert any(" " in v for v in values) and any(v.isdigit() for v in values)  # names and IDs
    pages = crawl(client, ["/", "/search", "/gaps", "/search?lang=en", "/dataset/population",
                           "/dataset/business_registry"])
    assert any(p.startswith("/agency/") for p in pages) and any(p.startswith("/dataset/") for p in pages)
    leaks = {(path, v) for path, html in pages.items() for v in values if v in html}
    assert not leaks, sorted(leaks)[:5]


POPULATION_ROWS_AT_LEAST = 500


@pytest.mark.parametrize("path", ["/", "/search?q=dan+cu", "/dataset/business_registry", "/gaps"])
def test_pages_are_served_by_the_app_with_static_css(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    css = re.search(r'href="(/portal-static/[\w.]+\.css)"', r.text)
    assert css is not None and client.get(urljoin("http://x", urlparse(css.group(1)).path)).status_code == 200


def test_a_catalogue_change_shows_at_once_despite_the_page_cache(
        client: TestClient, portal_home: PortalHome, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from portal import queries

    monkeypatch.setattr(queries, "STAMP_TTL", 0.0)  # production reuses a stamp for a second
    from catalog import catalogue
    from control import db
    from control.models import CatalogDataset

    before = client.get("/dataset/business_registry").text
    assert "Tiêu đề đã đổi" not in before
    with db.session(portal_home.settings) as s:
        row = s.get(CatalogDataset, "business_registry")
        assert row is not None
        row.title_vi, row.updated_at = "Tiêu đề đã đổi", datetime.now(UTC)
    try:
        assert "Tiêu đề đã đổi" in client.get("/dataset/business_registry").text
        assert "Tiêu đề đã đổi" in client.get("/search", params={"q": "tieu de da doi"}).text
    finally:
        catalogue.sync_dataset(portal_home.business, portal_home.settings)
    assert "Tiêu đề đã đổi" not in client.get("/dataset/business_registry").text


def test_freshness_on_the_page_follows_the_catalogue_rule(portal_home: PortalHome) -> None:
    """The cached page's freshness equals `catalogue.freshness` (one rule, two readers)."""
    from datetime import UTC, datetime, timedelta

    from catalog import catalogue

    entry = catalogue.entry(portal_home.settings, "business_registry")
    runs = catalogue.runs(portal_home.settings, "business_registry")
    assert entry is not None and runs
    for days in (0, 3, 40, 100):
        later = datetime.now(UTC) + timedelta(days=days)
        expected = catalogue.freshness(portal_home.settings, entry, now=later)
        got = queries.freshness_now(entry, runs, now=later)
        assert (got.overdue, got.stale_open_data, got.last_publish) == \
            (expected.overdue, expected.stale_open_data, expected.last_publish)


def test_overdue_dataset_gets_a_warning(client: TestClient, portal_home: PortalHome,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from catalog import catalogue
    from control import db
    from control.models import CatalogDataset

    monkeypatch.setattr(queries, "STAMP_TTL", 0.0)
    assert i18n.VI["overdue_text"] not in client.get("/dataset/business_registry").text
    with db.session(portal_home.settings) as s:
        row = s.get(CatalogDataset, "business_registry")
        assert row is not None
        row.max_age_days, row.updated_at = -1, datetime.now(UTC)  # any age is too old
    try:
        page = client.get("/dataset/business_registry").text
        assert 'role="alert"' in page and i18n.VI["overdue_text"] in page
        assert i18n.VI["overdue"] in client.get("/search", params={"q": "doanh nghiep"}).text
    finally:
        catalogue.sync_dataset(portal_home.business, portal_home.settings)


def test_a_cached_dataset_page_follows_freshness_without_a_publish(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rendered page is kept per publish, but the freshness it shows is computed per
    request (time passes without a publish): the page changes when it does."""
    from catalog import catalogue

    monkeypatch.setattr(queries, "STAMP_TTL", 0.0)  # no stale stamp from an earlier test
    assert i18n.VI["overdue_text"] not in client.get("/dataset/business_registry").text
    real = queries.freshness_now

    def overdue(entry, runs, now=None):  # type: ignore[no-untyped-def]
        f = real(entry, runs, now)
        return catalogue.Freshness(f.last_publish, (f.age_days or 0) + 400, True, True)

    monkeypatch.setattr(queries, "freshness_now", overdue)
    page = client.get("/dataset/business_registry").text
    assert i18n.VI["overdue_text"] in page and i18n.VI["stale"] in page
    monkeypatch.setattr(queries, "freshness_now", real)
    assert i18n.VI["overdue_text"] not in client.get("/dataset/business_registry").text


def test_the_page_cache_is_bounded(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "PAGE_CACHE_SIZE", 5)
    for i in range(12):  # each Host header is another base URL, so another key
        r = client.get("/dataset/business_registry", headers={"host": f"h{i}.example"})
        assert f"http://h{i}.example/api/3/action/package_show" in r.text
        r = client.get("/search", params={"q": f"x{i}"})
        assert r.status_code == 200
    assert len(queries._pages) <= 5
