"""The agency API over real HTTP (`lgsp serve` in its own process, see tests/api/live.py):
401 without or with a bad credential, 403 for a dataset not granted or an expired grant,
masked and absent columns, row scope held on every query shape (filter, count, order, key
lookup, keyset pages, bulk), hidden columns and injection refused with problem details,
a revoked client refused at once, rate limits, every request audited."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import text

from api import audit, audit_journal, clients
from control import db
from tests.api.conftest import ACTOR
from tests.api.live import COLUMNS, DATASET, Api, people
from warehouse.query import curated_connection


def _problem(r: requests.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["type"].endswith(f"/{code}") and body["title"]
    return body


def test_no_credentials_bad_token_bad_secret(api: Api) -> None:
    _problem(api.get(f"/api/v1/datasets/{DATASET}", role=None), 401, "unauthorized")
    r = requests.get(f"{api.url}/api/v1/datasets/{DATASET}", headers={"Authorization": "Bearer x.y.z"})
    _problem(r, 401, "invalid_token")
    r = requests.post(f"{api.url}/api/v1/token", data={"grant_type": "client_credentials",
                                                       "client_id": api.secrets["commune"][0],
                                                       "client_secret": "wrong"})
    assert _problem(r, 401, "invalid_client")["error"] == "invalid_client"


def test_not_granted_expired_and_purpose(api: Api) -> None:
    _problem(api.get(f"/api/v1/datasets/{DATASET}", role="stranger"), 403, "not_granted")
    _problem(api.get(f"/api/v1/datasets/{DATASET}", role="expired"), 403, "grant_expired")
    _problem(api.get(f"/api/v1/datasets/{DATASET}", purpose=None), 403, "purpose_not_granted")
    _problem(api.get(f"/api/v1/datasets/{DATASET}", purpose="marketing"), 403, "purpose_not_granted")
    _problem(api.get("/api/v1/datasets/population"), 403, "not_granted")


def test_columns_masked_and_absent_rows_in_scope(api: Api) -> None:
    r = api.get(f"/api/v1/datasets/{DATASET}", **{"$top": "1000", "$count": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["@odata.count"] == len(api.expected)
    assert r.headers["LGSP-Snapshot-Id"].isdigit()
    for row in body["value"]:
        assert list(row) == COLUMNS  # address, legal form... absent
        want = api.expected[row["enterprise_code"]]  # KeyError: a row out of scope
        assert row["commune_code"] in api.communes
        assert row["owner_personal_id"] == "********" + want["owner_personal_id"][-4:]


@pytest.mark.parametrize("params", [
    {"$select": "address"}, {"$filter": "address eq 'x'"}, {"$orderby": "address"},
    {"$filter": "owner_personal_id eq '001089012345'"}, {"$orderby": "owner_personal_id desc"},
    {"$filter": "startswith(owner_personal_id, '0')"}, {"$top": "100000"}, {"$skip": "-1"},
    {"$top": "\u00b2"}, {"$skiptoken": "not-a-token"},
    {"$filter": "name eq 'x'; DROP TABLE business_registry"}, {"$filter": "name eq 'x' or 1 eq 1"},
    {"$filter": "name eq 'x') OR (1=1"}, {"$filter": "\"name\" eq 'x'"}, {"$expand": "x"},
    {"$filter": " or ".join(f"name eq '{i}'" for i in range(100))},
])
def test_hidden_masked_injection_and_unbounded_refused(api: Api, params: dict) -> None:
    body = _problem(api.get(f"/api/v1/datasets/{DATASET}", **params), 400, "invalid_query")
    assert body["detail"]


def test_row_scope_holds_on_filter_count_order_key_lookup(api: Api) -> None:
    other = next(iter(api.expected.values()))
    con = curated_connection(api.settings)
    key_out, commune_out = con.execute(f"SELECT enterprise_code, commune_code FROM {DATASET} "
                                       "WHERE commune_code NOT IN (?, ?) LIMIT 1", api.communes).fetchone()
    r = api.get(f"/api/v1/datasets/{DATASET}", **{"$filter": f"commune_code eq '{commune_out}'",
                                                   "$count": "true"})
    assert r.status_code == 200 and r.json()["value"] == [] and r.json()["@odata.count"] == 0
    r = api.get(f"/api/v1/datasets/{DATASET}", **{"$filter": f"commune_code eq '{api.communes[0]}'",
                                                   "$count": "true", "$orderby": "name desc"})
    want = sorted((v["name"] for v in api.expected.values() if v["commune_code"] == api.communes[0]),
                  reverse=True)
    assert r.json()["@odata.count"] == len(want)
    assert [v["name"] for v in r.json()["value"]] == want[:100]
    _problem(api.get(f"/api/v1/datasets/{DATASET}/key/{key_out}"), 404, "not_found")
    r = api.get(f"/api/v1/datasets/{DATASET}/key/{other['enterprise_code']}")
    assert r.status_code == 200 and r.json()["enterprise_code"] == other["enterprise_code"]
    assert r.json()["owner_personal_id"].startswith("********")


def test_keyset_pages_cover_the_scope_once(api: Api) -> None:
    seen: list[str] = []
    path, params = f"/api/v1/datasets/{DATASET}", {"$top": "500"}
    while True:
        body = api.get(path, **params).json()
        seen += [v["enterprise_code"] for v in body["value"]]
        if "@odata.nextLink" not in body:
            break
        link = body["@odata.nextLink"]
        path, query = link.split("?", 1)
        from urllib.parse import parse_qsl
        params = {k: v for k, v in parse_qsl(query) if k != "purpose"}
    assert sorted(seen) == seen and set(seen) == set(api.expected) and len(seen) == len(api.expected)


def test_revoked_client_refused_at_once_and_audit(api: Api) -> None:
    cid = api.secrets["doomed"][0]
    token = api.token("doomed")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{api.url}/api/v1/datasets/{DATASET}?purpose=inspection&$top=5"
    assert requests.get(url, headers=headers).status_code == 200
    with db.session(api.settings) as s:
        clients.revoke(s, api.settings, cid, actor=ACTOR)
    _problem(requests.get(url, headers=headers), 401, "client_revoked")

    pid = next(iter(api.expected.values()))["owner_personal_id"]
    key = next(iter(api.expected))
    assert api.get(f"/api/v1/datasets/{DATASET}/key/{key}").status_code == 200
    audit_journal.seal_all(api.settings)  # as `lgsp audit` does before it reads
    with db.session(api.settings) as s:
        assert audit.verify(s) == []
        who = audit.who_accessed(s, api.settings, pid)
        assert api.secrets["commune"][0] in {a.client for a in who}
        assert {a.purpose for a in who} == {"inspection"}
        actions = set(s.execute(text("SELECT action FROM api_audit WHERE actor = :c"), {"c": cid}).scalars())
        assert {"token.issue", "query"} <= actions


def test_metadata_lists_granted_schema(api: Api) -> None:
    body = api.get("/api/v1/datasets").json()
    assert sorted(e["id"] for e in body["value"]) == [DATASET, "person_linked"]
    entry = next(e for e in body["value"] if e["id"] == DATASET)
    assert entry["id"] == DATASET and [c["name"] for c in entry["columns"]] == COLUMNS
    masked = {c["name"]: c["mask"] for c in entry["columns"] if c["mask"]}
    assert masked == {"owner_personal_id": "last4"}
    assert api.get("/api/v1/datasets", role="stranger").json()["value"] == []


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_bulk_download_holds_scope_and_is_audited(api: Api, fmt: str) -> None:
    import csv
    import hashlib
    import io
    import json

    r = api.get(f"/api/v1/datasets/{DATASET}/bulk", format=fmt)
    assert r.status_code == 200, r.text
    if fmt == "ndjson":
        rows = [json.loads(line) for line in r.text.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["enterprise_code"] for row in rows} == set(api.expected) and len(rows) == len(api.expected)
    for row in rows:
        assert list(row) == COLUMNS
        assert row["owner_personal_id"] == "********" + api.expected[row["enterprise_code"]][
            "owner_personal_id"][-4:]
    audit_journal.seal_all(api.settings)
    with db.session(api.settings) as s:
        last = s.execute(text("SELECT row_count, response_sha256, snapshot_id FROM api_audit "
                              "WHERE action = 'bulk' ORDER BY seq DESC LIMIT 1")).one()
    assert last == (len(rows), hashlib.sha256(r.content).hexdigest(), r.headers["LGSP-Snapshot-Id"])
    _problem(api.get(f"/api/v1/datasets/{DATASET}/bulk", format="xml"), 400, "invalid_request")
    _problem(api.get(f"/api/v1/datasets/{DATASET}/bulk", role="stranger"), 403, "not_granted")


def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    with db.session(api.settings) as s:
        issued = clients.register(s, api.settings, name="slow", agency="UBND", rate_per_minute=2, actor=ACTOR)
    api.secrets["slow"] = (issued.client_id, issued.secret)
    headers = {"Authorization": f"Bearer {api.token('slow')}"}
    answers = [requests.get(f"{api.url}/api/v1/datasets", headers=headers) for _ in range(6)]
    limited = [r for r in answers if r.status_code == 429]
    assert len(limited) >= 4  # 2 per minute in all, whichever worker answers
    assert int(limited[0].headers["Retry-After"]) >= 1
    _problem(limited[0], 429, "rate_limited")


def test_as_of_answers_from_the_snapshot_then(api: Api) -> None:
    now = api.get(f"/api/v1/datasets/{DATASET}", **{"$top": "1"})
    then = api.get(f"/api/v1/datasets/{DATASET}", as_of="2999-01-01T00:00:00+00:00", **{"$top": "1"})
    assert then.headers["LGSP-Snapshot-Id"] == now.headers["LGSP-Snapshot-Id"]
    _problem(api.get(f"/api/v1/datasets/{DATASET}", as_of="2000-01-01T00:00:00"), 404, "no_snapshot")
    _problem(api.get(f"/api/v1/datasets/{DATASET}", as_of="yesterday"), 400, "invalid_as_of")


def test_dpo_who_accessed_and_health(api: Api) -> None:
    row = next(iter(api.expected.values()))
    assert api.get(f"/api/v1/datasets/{DATASET}/key/{row['enterprise_code']}").status_code == 200
    r = api.get(f"/api/v1/audit/who-accessed/{row['owner_personal_id']}", role="dpo", purpose=None)
    assert r.status_code == 200, r.text
    reads = [e for e in r.json()["value"] if e["action"] == "lookup"]
    assert reads and {(e["client"], e["purpose"], e["dataset"]) for e in reads} == {
        (api.secrets["commune"][0], "inspection", DATASET)}
    _problem(api.get(f"/api/v1/audit/who-accessed/{row['owner_personal_id']}", purpose=None), 403, "not_dpo")
    assert requests.get(f"{api.url}/api/v1/health").json() == {"status": "ok"}
    assert requests.get(f"{api.url}/api/v1/ready").json() == {"status": "ready"}


def test_person_lookup_holds_scope_masks_and_is_audited(api: Api) -> None:
    residents = people(api.communes)
    inside = next(p for p in residents if p["residence_commune_code"] == api.communes[1])
    outside = next(p for p in residents if p["residence_commune_code"] == "99999")
    r = api.get(f"/api/v1/persons/{inside['personal_id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"personal_id": "********" + inside["personal_id"][-4:],
                        "full_name": inside["full_name"], "residence_commune_code": api.communes[1]}
    _problem(api.get(f"/api/v1/persons/{outside['personal_id']}"), 404, "not_found")
    _problem(api.get(f"/api/v1/persons/{inside['personal_id']}", role="stranger"), 403, "not_granted")
    # the other shapes on person_linked: no filter on the masked ID, no health card, scope held
    _problem(api.get("/api/v1/datasets/person_linked",
                     **{"$filter": f"personal_id eq '{inside['personal_id']}'"}), 400, "invalid_query")
    _problem(api.get("/api/v1/datasets/person_linked", **{"$select": "health_card_number"}), 400,
             "invalid_query")
    body = api.get("/api/v1/datasets/person_linked", **{"$count": "true"}).json()
    want = {p["full_name"] for p in residents if p["residence_commune_code"] in api.communes}
    assert {v["full_name"] for v in body["value"]} == want and body["@odata.count"] == len(want)
    lines = api.get("/api/v1/datasets/person_linked/bulk").text.splitlines()
    assert len(lines) == len(want)
    audit_journal.seal_all(api.settings)
    with db.session(api.settings) as s:
        who = audit.who_accessed(s, api.settings, inside["personal_id"])
        assert {(a.client, a.action) for a in who} >= {(api.secrets["commune"][0], "person"),
                                                       (api.secrets["commune"][0], "bulk")}
        assert not {a.client for a in audit.who_accessed(s, api.settings, outside["personal_id"])}
        logged = list(s.execute(text("SELECT query FROM api_audit WHERE action = 'person'")).scalars())
        assert logged and not any(inside["personal_id"] in (q or "") for q in logged)
