"""The portal in real headless Chromium (Debian's chromium package, driven by Playwright
through `executable_path`) against `lgsp serve` in its own process: search with and without
diacritics, a facet, a dataset, the language switch, a download checked against its sha256,
the agency scorecard, the same pages at a phone's viewport (screenshots saved under
var/test-artefacts/portal), and axe-core (npm, installed at test time, never vendored) on
every page type: no serious or critical violation.

Needs: `apt-get install -y chromium` and `npm` (axe-core is installed with it on first use).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.portal.conftest import ARTEFACTS, LiveServer

CHROMIUM = os.environ.get("LGSP_CHROMIUM", "/usr/bin/chromium")
AXE_DIR = Path(os.environ.get("LGSP_AXE_DIR", ARTEFACTS.parent / "node"))
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium"),
    pytest.mark.timeout(600),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, live_portal: LiveServer):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_portal.url, accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def phone(browser, live_portal: LiveServer):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_portal.url, viewport=PHONE, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    pg = context.new_page()
    yield pg
    context.close()


def shot(pg, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def result_ids(pg) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.split("/dataset/")[1].split("?")[0]
            for h in pg.locator("li.card h3 a").evaluate_all("els => els.map(e => e.getAttribute('href'))")]


def search_from_home(pg, words: str) -> list[str]:  # type: ignore[no-untyped-def]
    pg.goto("/")
    pg.get_by_label("Tìm bộ dữ liệu").fill(words)
    pg.get_by_role("button", name="Tìm", exact=True).click()
    pg.wait_for_url("**/search?**")
    return result_ids(pg)


def test_search_with_and_without_diacritics(page) -> None:  # type: ignore[no-untyped-def]
    with_marks = search_from_home(page, "dân cư")
    shot(page, "search-dan-cu-diacritics")
    without = search_from_home(page, "dan cu")
    assert "population" in with_marks and with_marks == without
    assert "business_registry" in search_from_home(page, "doanh nghiep")


def test_facet_dataset_language_download_scorecard(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto("/search")
    before = result_ids(page)
    page.locator("section[aria-labelledby=facet-format] a.facet", has_text="Parquet").click()
    after = result_ids(page)
    assert "business_registry" in after and "population" not in after and len(after) < len(before)
    assert page.locator("a.facet.on").count() == 1
    shot(page, "search-facet-parquet")

    page.locator("li.card h3 a[href^='/dataset/business_registry']").click()
    assert page.locator("h1").inner_text().strip()
    assert page.locator("svg.chart").count() == 1
    shot(page, "dataset-business-vi")

    link = page.locator("a[data-format=csv]")
    expected = link.get_attribute("data-sha256")
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "export.csv"
    info.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == expected

    page.locator("a.lang").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Downloads" in page.locator("#downloads-h").inner_text()
    shot(page, "dataset-business-en")

    page.locator("p.crumbs a[href^='/agency/']").click()
    assert "lang=en" in page.url
    assert page.locator("h1").inner_text().strip()
    assert page.locator("#top-h").inner_text() == "Checks that fail most"
    shot(page, "agency-scorecard-en")


PAGES = {"home": "/", "search": "/search?q=doanh+nghiep", "dataset": "/dataset/business_registry",
         "dataset-closed": "/dataset/population", "gaps": "/gaps", "not-found": "/dataset/nope",
         "sign-in": "/sign-in"}


def _agency_path(pg) -> str:  # type: ignore[no-untyped-def]
    pg.goto("/dataset/population")
    return str(pg.locator("p.crumbs a[href^='/agency/']").get_attribute("href"))


def test_phone_viewport_has_no_sideways_scroll(phone) -> None:  # type: ignore[no-untyped-def]
    pages = {**PAGES, "agency": _agency_path(phone)}
    for name, path in pages.items():
        phone.goto(path)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, overflow)
        shot(phone, f"phone-{name}")


@pytest.fixture(scope="module")
def axe_script() -> Path:
    script = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: axe-core (npm) cannot be installed (apt-get install -y npm)")
    AXE_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR),
                           "axe-core@4"], capture_output=True, text=True, timeout=300)
    if done.returncode or not script.exists():
        pytest.skip(f"npm install axe-core failed: {done.stderr[-500:]}")
    return script


def test_axe_no_serious_or_critical_violations(page, phone, axe_script: Path) -> None:  # type: ignore[no-untyped-def]
    pages = {**PAGES, "agency": _agency_path(page), "search-en": "/search?q=dan+so&lang=en"}
    found = {}
    for pg, label in ((page, "desktop"), (phone, "phone")):
        for name, path in pages.items():
            pg.goto(path)
            pg.add_script_tag(path=str(axe_script))
            result = pg.evaluate("""async () => {
                const r = await axe.run(document, {runOnly: {type: 'tag',
                    values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
            }""")
            bad = [v for v in result if v["impact"] in ("serious", "critical")]
            if bad:
                found[f"{label} {name}"] = bad
            (ARTEFACTS / f"axe-{label}-{name}.json").write_text(json.dumps(result, indent=1), "utf-8")
    assert not found, json.dumps(found, indent=1)[:4000]


def _register(live: LiveServer, agency: str) -> tuple[str, str]:
    from api import clients
    from control import db

    with db.session(live.home.settings) as s:
        issued = clients.register(s, live.home.settings, name="browser test", agency=agency,
                                  actor="cli:test")
    return issued.client_id, issued.secret


def _sign_in(pg, client_id: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    pg.get_by_label("Mã client (client_id)").fill(client_id)
    pg.get_by_label("Khóa bí mật (client_secret)").fill(secret)
    pg.get_by_role("button", name="Đăng nhập cơ quan").click()


def test_agency_signs_in_and_sees_its_quarantined_rows(page, phone, live_portal: LiveServer,
                                                       axe_script: Path) -> None:  # type: ignore[no-untyped-def]
    police = _register(live_portal, live_portal.home.population.owner.agency.en)
    agency = _agency_path(page)
    for pg, label in ((page, "desktop"), (phone, "phone")):
        pg.goto(agency)
        assert pg.locator("a.quarantine-link").count() == 0  # the public: counts only
        pg.locator("main").get_by_role("link", name="Đăng nhập cơ quan").click()
        shot(pg, f"{label}-sign-in")
        _sign_in(pg, *police)
        pg.wait_for_url(f"**{agency}")
        assert "Đã đăng nhập" in pg.locator("form.signed").inner_text()
        pg.locator("a.quarantine-link[href$='/quarantine/population']").click()
        rows = pg.locator("#quarantined tbody tr")
        assert rows.count() > 0
        first = rows.first.locator("td").nth(0).inner_text().strip()
        assert first  # the failed check of each row
        assert rows.first.locator("td").nth(1).inner_text().strip()  # and why
        overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (label, overflow)
        shot(pg, f"{label}-quarantine-rows")
        pg.add_script_tag(path=str(axe_script))
        bad = [v for v in pg.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
                 values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations
                 .map(v => ({id: v.id, impact: v.impact}))""") if v["impact"] in ("serious", "critical")]
        assert not bad, (label, bad)
        pg.get_by_role("button", name="Đăng xuất").click()
        pg.wait_for_url("**/")
        response = pg.goto(agency + "/quarantine/population")
        assert "/sign-in" in pg.url and response is not None and response.status == 200


def test_another_agency_in_the_browser_gets_403(page, live_portal: LiveServer) -> None:  # type: ignore[no-untyped-def]
    finance = _register(live_portal, live_portal.home.business.owner.agency.en)
    agency = _agency_path(page)
    page.goto("/sign-in")
    _sign_in(page, *finance)
    response = page.goto(agency + "/quarantine/population")
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "Không có quyền truy cập"
    assert page.locator("#quarantined").count() == 0
