"""The agency API's serving copy, caches, metrics and audit under concurrency, over real HTTP
(`lgsp serve`, 2 granian workers, tests/api/live.py): answers from the SQLite serving copy
equal those from DuckDB over the snapshot's Parquet (the `as_of` path) on every shape with
scope and masks; a new publish is answered with its own snapshot id at once and from its
own serving copy once built; revocation still takes effect at once with clients cached;
the audit chain stays valid after concurrent requests to both workers; /metrics counts
requests by route; the benchmark-only endpoints are absent by default."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
import requests
from sqlalchemy import func, select

from api import audit, audit_journal, clients, data, grants, serving
from api.models import ApiAuditEntry
from control import db
from tests.api.conftest import ACTOR
from tests.api.live import DATASET, Api, people, people_table, typed_role
from warehouse import iceberg

FUTURE = "2999-01-01T00:00:00+00:00"  # as_of: the same snapshot, read by DuckDB over Parquet


def _bearer(api: Api, role: str = "commune") -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(role)}"}


def _both(api: Api, path: str, headers: dict[str, str], **params: str
          ) -> tuple[requests.Response, requests.Response]:
    params = {"purpose": "inspection", **params}
    served = requests.get(f"{api.url}{path}", params=params, headers=headers, timeout=30)
    parquet = requests.get(f"{api.url}{path}", params={**params, "as_of": FUTURE}, headers=headers,
                           timeout=30)
    return served, parquet


@pytest.mark.parametrize("role", ["commune", "wide"])
def test_serving_copy_answers_as_parquet_does_on_every_shape(api: Api, role: str) -> None:
    """Also for a client whose scope lists twelve communes (SQLite reads it from a temp
    table): the same answers as Parquet's, and as the two-commune client's."""
    headers = _bearer(api, role)
    key = sorted(api.expected)[3]
    served, parquet = _both(api, f"/api/v1/datasets/{DATASET}/key/{key}", headers)
    assert served.status_code == parquet.status_code == 200, served.text
    assert served.json() == parquet.json() and served.json()["owner_personal_id"].startswith("********")
    snap = served.headers["LGSP-Snapshot-Id"]
    assert snap == parquet.headers["LGSP-Snapshot-Id"]
    assert serving.copy_path(api.settings, DATASET, int(snap)).exists()
    commune = api.communes[0]
    for params in ({"$filter": f"commune_code eq '{commune}'", "$orderby": "name desc", "$count": "true"},
                   {"$filter": "contains(name, 'a') or endswith(name, 'n')", "$count": "true",
                    "$top": "7", "$skip": "2"},
                   {"$filter": "startswith(enterprise_code, '0')", "$select": "name,owner_personal_id"},
                   {"$orderby": "commune_code", "$top": "1000", "$count": "true"},
                   {"$filter": "commune_code eq '99999'", "$count": "true"}):
        served, parquet = _both(api, f"/api/v1/datasets/{DATASET}", headers, **params)
        assert served.status_code == parquet.status_code == 200, (params, served.text)
        a, b = served.json(), parquet.json()
        assert a["value"] == b["value"] and a.get("@odata.count") == b.get("@odata.count"), params
        if role != "commune":
            c = _both(api, f"/api/v1/datasets/{DATASET}", _bearer(api), **params)[0].json()
            assert a["value"] == c["value"] and a.get("@odata.count") == c.get("@odata.count"), params
        assert all(v.get("owner_personal_id", "********").startswith("********") for v in a["value"])
    # key lookups out of scope: 404 on both paths
    outside = requests.get(f"{api.url}/api/v1/datasets/{DATASET}?purpose=inspection"
                           "&$filter=commune_code eq '00000'", headers=headers).json()["value"]
    assert outside == []
    resident = next(p for p in people(api.communes) if p["residence_commune_code"] == api.communes[0])
    stranger = next(p for p in people(api.communes) if p["residence_commune_code"] == "99999")
    served, parquet = _both(api, f"/api/v1/persons/{resident['personal_id']}", headers)
    assert served.status_code == 200 and served.json() == parquet.json()
    assert served.json()["personal_id"] == "********" + resident["personal_id"][-4:]
    served, parquet = _both(api, f"/api/v1/persons/{stranger['personal_id']}", headers)
    assert served.status_code == parquet.status_code == 404


WRONG_TYPES = [  # (dataset, $filter, the column named, the type it expects)
    (DATASET, "registered_date eq 'not-a-date'", "registered_date", "date"),
    (DATASET, "registered_date gt 20260101", "registered_date", "date"),
    (DATASET, "registered_date eq 2026-02-30", "registered_date", "date"),
    (DATASET, "registered_date lt 2026-11-01T00:00:00Z", "registered_date", "date"),
    (DATASET, "updated_at ge 'yesterday'", "updated_at", "timestamp"),
    (DATASET, "updated_at gt 2026-11-01T08:00:00.0000001Z", "updated_at", "timestamp"),
    (DATASET, "commune_code eq true", "commune_code", "string"),
    (DATASET, "enterprise_code ne 'x' and commune_code in ('x', 5)", "commune_code", "string"),
    ("person_linked", "land_certificates gt 'abc'", "land_certificates", "int"),
    ("person_linked", "land_certificates eq 1.5", "land_certificates", "int"),
    ("person_linked", "2026-11-01 lt land_certificates", "land_certificates", "int"),
    ("person_linked", "land_certificates ge 9223372036854775808", "land_certificates", "int"),
]


@pytest.mark.parametrize(("dataset", "filter_", "column", "expected"), WRONG_TYPES)
def test_a_literal_of_the_wrong_type_gets_the_same_400_from_every_store(
        api: Api, dataset: str, filter_: str, column: str, expected: str) -> None:
    """The SQLite copy used to answer these with no rows (or text-ordered ones) where
    DuckDB and PostgreSQL refused them: now the plan refuses them, naming the column."""
    headers = _bearer(api, typed_role(api))
    served, parquet = _both(api, f"/api/v1/datasets/{dataset}", headers, **{"$filter": filter_})
    assert served.status_code == parquet.status_code == 400, served.text
    body = served.json()
    assert body == parquet.json()
    assert (body["type"], body["option"], body["column"], body["expected"]) == (
        "/api/v1/problems/invalid_query", "$filter", column, expected)
    assert f"column {column!r} of type {expected}" in body["detail"]
    bulk = requests.get(f"{api.url}/api/v1/datasets/{dataset}/bulk", headers=headers, timeout=30,
                        params={"purpose": "inspection", "$filter": filter_})
    assert bulk.status_code == 400
    assert {k: v for k, v in bulk.json().items() if k != "instance"} == {
        k: v for k, v in body.items() if k != "instance"}


def _count(values: list[Any], test: Any) -> int:
    return sum(1 for v in values if v is not None and test(v))


def test_typed_comparisons_give_the_same_rows_from_every_store(api: Api) -> None:
    """Dates, timestamps (any offset: compared in UTC; a date: its midnight; to the minute)
    and integers, compared on the SQLite copy (ISO text there), on Parquet and by Python
    over the rows read directly: the same rows, the counts Python gives. (The copy used to
    compare the literal's text: `...T01:50Z` after `...T01:50:46`, `+07:00` never equal.)"""
    from warehouse.query import curated_connection

    headers = _bearer(api, typed_role(api))
    found = curated_connection(api.settings).execute(
        f"SELECT registered_date, updated_at FROM {DATASET} WHERE commune_code IN (?, ?)",
        api.communes).fetchall()
    dates = [r[0] for r in found]
    times = [r[1] for r in found]
    day = sorted(dates)[len(dates) // 2]
    other = sorted(dates)[len(dates) // 4]
    moment = sorted(t for t in times if t is not None)[len(times) // 2]
    local = (moment + timedelta(hours=7)).isoformat()
    certificates = [p["land_certificates"] for p in people(api.communes)
                    if p["residence_commune_code"] in api.communes]
    cases = [
        (DATASET, f"registered_date ge {day}", _count(dates, lambda v: v >= day)),
        (DATASET, f"registered_date lt {day}", _count(dates, lambda v: v < day)),
        (DATASET, f"registered_date eq '{day}'", _count(dates, lambda v: v == day)),
        (DATASET, f"registered_date in ({day}, {other})", _count(dates, lambda v: v in (day, other))),
        (DATASET, f"updated_at le {moment.isoformat()}Z", _count(times, lambda v: v <= moment)),
        (DATASET, f"updated_at eq {moment.isoformat()}", _count(times, lambda v: v == moment)),
        (DATASET, f"updated_at gt {local}+07:00", _count(times, lambda v: v > moment)),
        (DATASET, f"updated_at eq {local}+07:00", _count(times, lambda v: v == moment)),
        (DATASET, f"updated_at eq '{moment.isoformat()}Z'", _count(times, lambda v: v == moment)),
        (DATASET, f"updated_at lt {moment:%Y-%m-%dT%H:%M}Z",
         _count(times, lambda v: v < moment.replace(second=0, microsecond=0))),
        (DATASET, f"updated_at ge {moment.date()}",
         _count(times, lambda v: v >= datetime.combine(moment.date(), datetime.min.time()))),
        ("person_linked", "land_certificates ge 2", _count(certificates, lambda v: v >= 2)),
        ("person_linked", "land_certificates in (0, 3)", _count(certificates, lambda v: v in (0, 3))),
        ("person_linked", "-1 lt land_certificates", len(certificates)),
    ]
    for dataset, filter_, want in cases:
        served, parquet = _both(api, f"/api/v1/datasets/{dataset}", headers,
                                **{"$filter": filter_, "$count": "true", "$top": "1000"})
        assert served.status_code == parquet.status_code == 200, (filter_, served.text)
        a, b = served.json(), parquet.json()
        if dataset == DATASET:  # person_linked's key is not granted: a per-engine hash order
            assert a["value"] == b["value"], filter_
        else:
            assert sorted(a["value"], key=repr) == sorted(b["value"], key=repr), filter_
        assert a["@odata.count"] == b["@odata.count"] == want, filter_
        assert want > 0 and len(a["value"]) == min(want, 1000), filter_
    assert any(want < len(dates) for _, _, want in cases[:4])


def test_a_new_publish_is_answered_with_its_snapshot(api: Api) -> None:
    import pyarrow.parquet as pq

    rows = people(api.communes)
    table = people_table(rows)
    path = api.settings.warehouse_dir / "test-person_linked-again.parquet"
    pq.write_table(table, path)
    ice = iceberg.load_catalog(api.settings).load_table((iceberg.CURATED, "person_linked"))
    ice = iceberg.replace_files(ice, lambda _p: True, [str(path)], {})
    new = ice.current_snapshot().snapshot_id
    headers = _bearer(api)
    resident = next(p for p in rows if p["residence_commune_code"] == api.communes[1])
    url = f"{api.url}/api/v1/persons/{resident['personal_id']}?purpose=inspection"
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # both workers: the snapshot cache lasts 1 s
        answers = [requests.get(url, headers=headers) for _ in range(4)]
        assert all(r.status_code == 200 for r in answers)
        seen = {r.headers["LGSP-Snapshot-Id"] for r in answers}
        if seen == {str(new)} and serving.copy_path(api.settings, "person_linked", new).exists():
            break
        time.sleep(0.3)
    assert seen == {str(new)}
    assert serving.copy_path(api.settings, "person_linked", new).exists()  # built in the background
    time.sleep(data.SNAPSHOT_CACHE_S + 0.2)  # a worker none of the four reached re-checks too
    for r in [requests.get(url, headers=headers) for _ in range(8)]:
        assert r.headers["LGSP-Snapshot-Id"] == str(new)
        assert r.json()["full_name"] == resident["full_name"]


def test_revocation_is_immediate_with_clients_cached(api: Api) -> None:
    later = datetime.now(UTC) + timedelta(days=3)
    with db.session(api.settings) as s:
        issued = clients.register(s, api.settings, name="cached", agency="UBND", communes=api.communes,
                                  rate_per_minute=10**6, actor=ACTOR)
        g = grants.grant(s, api.settings, client_id=issued.client_id, dataset=DATASET,
                         columns=["enterprise_code", "name"], purposes=["inspection"],
                         legal_basis="Law on Enterprises 2020", expires_at=later, actor=ACTOR)
    api.secrets["cached"] = (issued.client_id, issued.secret)
    headers = _bearer(api, "cached")
    key = sorted(api.expected)[0]
    url = f"{api.url}/api/v1/datasets/{DATASET}/key/{key}?purpose=inspection"
    assert all(requests.get(url, headers=headers).status_code == 200 for _ in range(6))  # both workers
    with db.session(api.settings) as s:
        grants.revoke(s, api.settings, g.id, actor=ACTOR)
    assert [requests.get(url, headers=headers).status_code for _ in range(6)] == [403] * 6
    with db.session(api.settings) as s:
        grants.grant(s, api.settings, client_id=issued.client_id, dataset=DATASET, columns=["name"],
                     purposes=["inspection"], legal_basis="Law on Enterprises 2020", expires_at=later,
                     actor=ACTOR)
    r = requests.get(f"{api.url}/api/v1/datasets/{DATASET}?purpose=inspection&$top=1", headers=headers)
    assert r.status_code == 200 and list(r.json()["value"][0]) == ["name"]  # the new grant, at once
    with db.session(api.settings) as s:
        clients.revoke(s, api.settings, issued.client_id, actor=ACTOR)
    assert [requests.get(url, headers=headers).status_code for _ in range(6)] == [401] * 6


def test_audit_chain_holds_after_concurrent_requests_to_both_workers(api: Api) -> None:
    headers = _bearer(api)
    keys = sorted(api.expected)[:20]
    audit_journal.seal_all(api.settings)  # the token's entry and earlier tests' in the chain
    with db.session(api.settings) as s:
        before = s.scalar(select(func.count()).select_from(ApiAuditEntry))

    def one(i: int) -> int:
        return requests.get(f"{api.url}/api/v1/datasets/{DATASET}/key/{keys[i % len(keys)]}",
                            params={"purpose": "inspection"}, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, range(400)))
    assert codes == [200] * 400
    deadline = time.monotonic() + 30  # the workers' own sealers chain their journals (0.1 s)
    while True:
        with db.session(api.settings) as s:
            after = s.scalar(select(func.count()).select_from(ApiAuditEntry))
        if after - before >= 400 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after - before == 400  # one entry per request
    with db.session(api.settings) as s:
        assert audit.verify(s, api.settings) == []
        hashes = set(s.scalars(select(ApiAuditEntry.response_sha256).where(ApiAuditEntry.seq > before)))
        assert len(hashes) == len(keys)  # the body of each answer, per key
    metrics = requests.get(f"{api.url}/metrics").text
    batches = re.search(r"^lgsp_audit_batch_size_count (\S+)$", metrics, re.M)
    assert batches and float(batches.group(1)) >= 1


def test_metrics_count_requests_by_route_and_status(api: Api) -> None:
    headers = _bearer(api)
    key = sorted(api.expected)[1]
    for _ in range(3):
        assert requests.get(f"{api.url}/api/v1/datasets/{DATASET}/key/{key}?purpose=inspection",
                            headers=headers).status_code == 200
    assert requests.get(f"{api.url}/api/v1/datasets/{DATASET}/key/{key}").status_code == 401
    r = requests.get(f"{api.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")

    def count(status: str) -> float:
        total = 0.0
        for labels, value in re.findall(r"^lgsp_http_requests_total\{(.*)\} (\S+)$", r.text, re.M):
            found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            if found == {"route": "/api/v1/datasets/{dataset}/key/{key}", "method": "GET", "status": status}:
                total += float(value)
        return total

    assert count("200") >= 3 and count("401") >= 1
    assert 'lgsp_http_request_duration_seconds_bucket{le="0.02",' in r.text or \
        re.search(r'lgsp_http_request_duration_seconds_bucket\{.*le="0.02"', r.text)
    assert key not in r.text  # labels carry the route template, never a value from the path


@pytest.mark.parametrize("path", ["/bench/constant", f"/bench/lookup/{DATASET}/x"])
def test_bench_endpoints_absent_by_default(api: Api, path: str) -> None:
    assert requests.get(f"{api.url}{path}").status_code == 404


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_parquet('/tmp/elsewhere.parquet')",
    "SET enable_external_access = true",
    "INSTALL httpfs",
])
def test_the_apis_duckdb_connection_is_locked_down(api: Api, sql: str) -> None:
    from api import data

    snap = data.snapshot(api.settings, DATASET)
    assert snap is not None
    cur = data.locked_cursor(api.settings, DATASET, snap)
    try:
        assert cur.execute(f"SELECT count(*) FROM {data.VIEW}").fetchone()[0] > 0  # its snapshot only
        with pytest.raises(duckdb.Error):
            cur.execute(sql).fetchall()
    finally:
        cur.close()
