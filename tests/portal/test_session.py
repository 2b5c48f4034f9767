"""The agency signed in on the portal: sign-in with the agency API's client credentials
(CSRF-protected form, signed short-lived session cookie), the quarantined rows of the
datasets its agency owns (paged, with the failing check and reason per row, each view in
the audit log), and nobody else: signed out -> the sign-in form, another agency -> 403, a
revoked client -> signed out at once. Pages that depend on the session are never kept by a
shared cache."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api import audit, audit_journal, clients, grants
from api.models import ApiAuditEntry, ApiClient
from catalog.spec import DatasetSpec, load_specs
from control import db
from opendata.vocabularies import slug
from portal import i18n, quarantine, session
from tests.portal.conftest import PortalHome

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class Agent:
    client_id: str
    secret: str


def register(home: PortalHome, agency: str, name: str = "portal test") -> Agent:
    with db.session(home.settings) as s:
        issued = clients.register(s, home.settings, name=name, agency=agency, actor="cli:test")
    return Agent(issued.client_id, issued.secret)


@pytest.fixture
def browser_like(client: TestClient) -> Iterator[TestClient]:
    """The same app with its own cookie jar (the session-wide client stays signed out)."""
    with TestClient(client.app, follow_redirects=False) as c:
        yield c


def police_path(home: PortalHome) -> str:
    return f"/agency/{slug(home.population.owner.agency.en)}/quarantine/population"


def sign_in(c: TestClient, agent: Agent, next_: str | None = None, **headers: str) -> Any:
    form = c.get("/sign-in")
    token = CSRF.search(form.text)
    assert token is not None
    data = {"csrf": token.group(1), "client_id": agent.client_id, "client_secret": agent.secret}
    if next_:
        data["next"] = next_
    return c.post("/sign-in", data=data, headers=headers)


def audit_entries(home: PortalHome, action: str, actor: str) -> list[ApiAuditEntry]:
    from sqlalchemy import select

    audit_journal.seal_all(home.settings)  # as `lgsp audit` does before it reads
    with db.session(home.settings) as s:
        return list(s.scalars(select(ApiAuditEntry).where(ApiAuditEntry.action == action,
                                                          ApiAuditEntry.actor == actor)))


def test_signed_out_is_sent_to_the_sign_in_form(browser_like: TestClient,
                                                portal_home: PortalHome) -> None:
    r = browser_like.get(police_path(portal_home) + "?page=2")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/sign-in?next=%2Fagency%2F")
    assert "no-store" in r.headers["cache-control"] and "private" in r.headers["cache-control"]
    form = browser_like.get(r.headers["location"])
    assert form.status_code == 200 and 'name="next"' in form.text
    assert "no-store" in form.headers["cache-control"]


def test_the_owner_signs_in_and_sees_its_quarantined_rows(browser_like: TestClient,
                                                          portal_home: PortalHome) -> None:
    police = register(portal_home, portal_home.population.owner.agency.en)
    target = police_path(portal_home)
    r = sign_in(browser_like, police, next_=target)
    assert r.status_code == 303 and r.headers["location"] == target
    cookie = r.headers["set-cookie"]
    assert session.SESSION_COOKIE in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower() and "Secure" not in cookie  # plain http here
    assert f"Max-Age={int(session.TTL.total_seconds())}" in cookie

    page = browser_like.get(target)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "private, no-store"
    expected = quarantine.read_page(portal_home.settings, portal_home.population, 1)
    assert expected.total > 0, "the population fixture quarantines rows"
    assert f"{expected.total:,} " in page.text
    body = page.text.split('id="quarantined"')[1].replace("<wbr>", "")
    rows = re.findall(r"<tr><th scope=\"row\">", body)
    assert len(rows) == len(expected.rows) == min(expected.total, quarantine.PER_PAGE)
    for r_ in expected.rows:  # each row names the check it failed and why, and its values
        assert r_.rules and r_.reasons
        assert all(x in body for x in r_.rules)
        ident = r_.values[expected.columns.index("personal_id")]
        if ident:
            assert ident in body
    # the view is in the audit log, with the people shown (as keyed hashes) for who-accessed
    views = audit_entries(portal_home, "portal.quarantine.view", police.client_id)
    assert len(views) == 1 and views[0].dataset == "population"
    assert views[0].row_count == len(expected.rows) and views[0].subjects
    shown = next(v[0] for v in ([r_.values[expected.columns.index("personal_id")]]
                                for r_ in expected.rows) if v[0])
    with db.session(portal_home.settings) as s:
        who = audit.who_accessed(s, portal_home.settings, shown)
    assert police.client_id in {a.client for a in who}
    # its scorecard links to the rows; the public scorecard does not
    card = browser_like.get(target.split("/quarantine/")[0])
    assert f'href="{target}"' in card.text and i18n.VI["signed_in_as"] in card.text
    assert "no-store" in card.headers["cache-control"]
    with TestClient(browser_like.app) as public:
        assert f'href="{target}"' not in public.get(target.split("/quarantine/")[0]).text


def test_quarantine_pages_partition_the_rows(portal_home: PortalHome) -> None:
    first = quarantine.read_page(portal_home.settings, portal_home.population, 1, per_page=7)
    assert first.pages == -(-first.total // 7) and first.pages >= 2
    seen = [(r.run_id, r.row, tuple(r.rules)) for p in range(1, first.pages + 1)
            for r in quarantine.read_page(portal_home.settings, portal_home.population, p, 7).rows]
    assert len(seen) == len(set(seen)) == first.total
    beyond = quarantine.read_page(portal_home.settings, portal_home.population, first.pages + 5, 7)
    assert beyond.page == first.pages  # clamped, like the search pages


def test_another_agency_gets_403_and_the_refusal_is_audited(browser_like: TestClient,
                                                            portal_home: PortalHome) -> None:
    finance = register(portal_home, portal_home.business.owner.agency.vi)
    assert sign_in(browser_like, finance).status_code == 303
    r = browser_like.get(police_path(portal_home))
    assert r.status_code == 403 and i18n.VI["forbidden"] in r.text
    assert "no-store" in r.headers["cache-control"]
    assert audit_entries(portal_home, "portal.quarantine.denied", finance.client_id)
    assert not audit_entries(portal_home, "portal.quarantine.view", finance.client_id)
    # its own dataset is fine (registered under the Vietnamese name of the owner agency)
    own = f"/agency/{slug(portal_home.business.owner.agency.en)}/quarantine/business_registry"
    assert browser_like.get(own).status_code == 200
    # a dataset under another agency's slug is no page
    wrong = f"/agency/{slug(portal_home.business.owner.agency.en)}/quarantine/population"
    assert browser_like.get(wrong).status_code == 404


def test_a_revoked_client_loses_access_at_once(browser_like: TestClient,
                                               portal_home: PortalHome) -> None:
    police = register(portal_home, portal_home.population.owner.agency.en)
    assert sign_in(browser_like, police).status_code == 303
    assert browser_like.get(police_path(portal_home)).status_code == 200
    with db.session(portal_home.settings) as s:
        clients.revoke(s, portal_home.settings, police.client_id, actor="cli:test")
    r = browser_like.get(police_path(portal_home))  # same, still unexpired cookie
    assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")
    again = sign_in(browser_like, police)
    assert again.status_code == 401 and i18n.VI["sign_in_failed"] in again.text


def test_sign_in_refuses_bad_secret_missing_or_foreign_csrf(browser_like: TestClient,
                                                           portal_home: PortalHome) -> None:
    police = register(portal_home, portal_home.population.owner.agency.en)
    wrong = sign_in(browser_like, Agent(police.client_id, police.secret + "x"))
    assert wrong.status_code == 401 and session.SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    form = {"client_id": police.client_id, "client_secret": police.secret}
    assert browser_like.post("/sign-in", data=form).status_code == 403  # no token
    assert browser_like.post("/sign-in", data={**form, "csrf": "0" * 64}).status_code == 403
    token = CSRF.search(browser_like.get("/sign-in").text).group(1)  # type: ignore[union-attr]
    with TestClient(browser_like.app, follow_redirects=False) as other:  # another browser
        assert other.post("/sign-in", data={**form, "csrf": token}).status_code == 403
    foreign = browser_like.post("/sign-in", data={**form, "csrf": token},
                                headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert sign_in(browser_like, police, next_="//evil.example/x").headers["location"] == \
        f"/agency/{slug(portal_home.population.owner.agency.en)}"  # never off-site


def test_sign_out_ends_the_session(browser_like: TestClient, portal_home: PortalHome) -> None:
    police = register(portal_home, portal_home.population.owner.agency.en)
    sign_in(browser_like, police)
    page = browser_like.get(police_path(portal_home))
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    assert browser_like.post("/sign-out", data={}).status_code == 403  # CSRF
    out = browser_like.post("/sign-out", data={"csrf": token})
    assert out.status_code == 303 and 'lgsp_session=""' in out.headers["set-cookie"]
    assert browser_like.get(police_path(portal_home)).status_code == 303


def test_cookie_is_secure_over_https_and_is_no_api_token(client: TestClient,
                                                          portal_home: PortalHome) -> None:
    police = register(portal_home, portal_home.population.owner.agency.en)
    with TestClient(client.app, base_url="https://testserver", follow_redirects=False) as tls:
        r = sign_in(tls, police)
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]
        cookie = tls.cookies.get(session.SESSION_COOKIE)
    assert cookie
    api = client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {cookie}"})
    assert api.status_code == 401  # another audience: a session is not an API token
    token = client.post("/api/v1/token", data={"grant_type": "client_credentials",
                                               "client_id": police.client_id,
                                               "client_secret": police.secret}).json()["access_token"]
    assert session.client_id_of(portal_home.settings, token) is None


# ---- the one access decision ----------------------------------------------------------

SPECS = load_specs()
AGENCIES = sorted({s.owner.agency.en for s in SPECS} | {s.owner.agency.vi for s in SPECS})


def _client(agency: str, state: str = "active") -> ApiClient:
    return ApiClient(id="cl_x", name="x", agency=agency, communes=[], roles=[], state=state,
                     rate_per_minute=1)


def _owns(agency: str, spec: DatasetSpec) -> bool:
    names = {spec.owner.agency.en, spec.owner.agency.vi}
    return agency in names


@given(spec=st.sampled_from(SPECS), agency=st.sampled_from(AGENCIES),
       state=st.sampled_from(["active", "revoked"]),
       respell=st.sampled_from([str, str.upper, lambda a: "  " + a.replace(" ", "  ") + " "]))
def test_quarantine_access_is_the_owner_agency_only(spec: DatasetSpec, agency: str, state: str,
                                                    respell: Any) -> None:
    got = grants.quarantine_access(_client(respell(agency), state), spec)
    assert got.allowed == (state == "active" and _owns(agency, spec))
    if not got.allowed:
        assert got.predicate == "FALSE" and not got.columns


@given(spec=st.sampled_from(SPECS), text=st.text(max_size=60))
def test_quarantine_access_denies_any_other_agency_text(spec: DatasetSpec, text: str) -> None:
    import unicodedata

    folded = " ".join(unicodedata.normalize("NFC", text).casefold().split())
    owner = {" ".join(n.casefold().split()) for n in (spec.owner.agency.en, spec.owner.agency.vi)}
    if folded in owner or folded == slug(spec.owner.agency.en):
        return
    assert not grants.quarantine_access(_client(text), spec).allowed
    assert not grants.quarantine_access(None, spec).allowed


def test_personal_values_only_on_the_owner_signed_in_quarantine_page(
        browser_like: TestClient, portal_home: PortalHome) -> None:
    from tests.portal.test_pages import _personal_values, crawl

    values = _personal_values(portal_home)
    target = police_path(portal_home)
    signed_out = browser_like.get(target)
    assert signed_out.status_code == 303 and not {v for v in values if v in signed_out.text}
    police = register(portal_home, portal_home.population.owner.agency.en)
    sign_in(browser_like, police)
    browser_like.follow_redirects = True
    pages = crawl(browser_like, ["/", "/gaps", "/dataset/population", target.split("/quarantine/")[0]])
    rows_pages = {p for p in pages if "/quarantine/" in p}
    assert rows_pages and any(v in pages[p] for p in rows_pages for v in values)
    leaks = {(p, v) for p, html in pages.items() if p not in rows_pages for v in values if v in html}
    assert not leaks, sorted(leaks)[:5]


def test_the_agency_api_examples_on_the_dataset_page_work(live_portal: Any,
                                                          portal_home: PortalHome,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's Python example, run as it is shown against `lgsp serve`, with a client
    granted the dataset's public columns: a page of rows and the record of the shown key."""
    import html as html_lib
    from datetime import UTC, datetime, timedelta

    import requests

    spec = portal_home.business
    public = [c.name for c in spec.columns if c.classification == "public"]
    finance = register(portal_home, spec.owner.agency.en)
    with db.session(portal_home.settings) as s:
        grants.grant(s, portal_home.settings, client_id=finance.client_id, dataset=spec.id,
                     columns=public, purposes=["thống kê doanh nghiệp"], legal_basis="test",
                     expires_at=datetime.now(UTC) + timedelta(days=1), actor="cli:test")
    page = requests.get(f"{live_portal.url}/dataset/{spec.id}", timeout=30).text
    code = re.search(r'id="agency-api-python"><code>(.*?)</code>', page, re.S)
    curl = re.search(r'id="agency-api-curl"><code>(.*?)</code>', page, re.S)
    assert code is not None and curl is not None
    assert f"/api/v1/datasets/{spec.id}/key/" in curl.group(1) and "purpose=$PURPOSE" in curl.group(1)
    source = html_lib.unescape(code.group(1))
    assert spec.primary_key[0] not in source  # a real key value, not a placeholder
    monkeypatch.setenv("CLIENT_ID", finance.client_id)
    monkeypatch.setenv("CLIENT_SECRET", finance.secret)
    monkeypatch.setenv("PURPOSE", "thống kê doanh nghiệp")
    scope: dict[str, Any] = {}
    exec(compile(source, "dataset-page-example", "exec"), scope)  # noqa: S102 - our own page
    assert len(scope["rows"]) == min(10, scope["page"]["@odata.count"]) > 0
    key = spec.primary_key[0]
    assert scope["record"][key] in page and set(scope["record"]) <= set(public)
    # the curl example too, run by bash as shown (when curl is installed)
    import shutil
    import subprocess

    if shutil.which("curl") is None:
        return
    script = html_lib.unescape(curl.group(1))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "CLIENT_ID": finance.client_id,
                                           "CLIENT_SECRET": finance.secret,
                                           "PURPOSE": "thống kê doanh nghiệp"})
    assert done.returncode == 0, done.stderr
    first, _, last = done.stdout.partition('}{"')
    assert '"@odata.count"' in first and scope["record"][key] in last
