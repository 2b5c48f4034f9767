"""The PostgreSQL store (LGSP_API_STORE_URI, api/pg_copy.py) over real HTTP: a second
`lgsp serve` on the same home answers key lookups, person lookups and filtered pages from
an indexed copy in a real PostgreSQL database (its own, created here) exactly as the
default store (the SQLite serving copy) does, with the same grants, masks, scope and audit,
and names the snapshot the copy holds. With LGSP_BENCH_ENDPOINTS=1 the benchmark's
baselines are mounted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta

import psycopg
import pytest
import requests

from api.pg_copy import copy_to_postgres
from tests.api.live import DATASET, Api, people, typed_role
from tests.serving import served

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def pg_api(api: Api) -> Iterator[str]:
    name = f"lgsp_api_store_{os.getpid()}"
    with psycopg.connect(ADMIN, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name}")
        con.execute(f"CREATE DATABASE {name}")
    uri = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        for dataset in (DATASET, "person_linked"):
            assert copy_to_postgres(api.settings, dataset, uri) > 0
        env = {"LGSP_API_STORE_URI": uri, "LGSP_BENCH_ENDPOINTS": "1"}
        with ExitStack() as stack:
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                url = stack.enter_context(served(api.settings.home))  # the server's own environment
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            yield url
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_copy_holds_the_snapshot_rows_and_indexes(api: Api, pg_api: str) -> None:
    assert os.environ.get("LGSP_API_STORE_URI") is None  # only the second server has it
    r = requests.get(f"{pg_api}/bench/lookup/{DATASET}/{sorted(api.expected)[0]}")
    assert r.status_code == 200
    assert {"enterprise_code", "name", "address", "owner_personal_id"} <= set(r.json())  # every column


def test_pg_store_answers_as_the_default_store(api: Api, pg_api: str) -> None:
    headers = {"Authorization": f"Bearer {api.token('commune')}"}

    def both(path: str, **params: str) -> tuple[requests.Response, requests.Response]:
        params = {"purpose": "inspection", **params}
        return (requests.get(f"{api.url}{path}", params=params, headers=headers, timeout=30),
                requests.get(f"{pg_api}{path}", params=params, headers=headers, timeout=30))

    key = sorted(api.expected)[5]
    default, pg = both(f"/api/v1/datasets/{DATASET}/key/{key}")
    assert default.status_code == pg.status_code == 200, pg.text
    assert default.json() == pg.json() and pg.json()["owner_personal_id"].startswith("********")
    assert pg.headers["LGSP-Snapshot-Id"] == default.headers["LGSP-Snapshot-Id"]
    commune = api.communes[1]
    for params in ({"$filter": f"commune_code eq '{commune}'", "$orderby": "name desc", "$count": "true",
                    "$top": "20"},
                   {"$filter": "contains(name, 'a') and not endswith(name, 'x')", "$count": "true"},
                   {"$filter": "startswith(name, 'C')", "$select": "name,owner_personal_id", "$top": "5"},
                   {"$filter": "commune_code eq '99999'", "$count": "true"}):
        default, pg = both(f"/api/v1/datasets/{DATASET}", **params)
        assert default.status_code == pg.status_code == 200, (params, pg.text)
        assert default.json()["value"] == pg.json()["value"], params
        assert default.json().get("@odata.count") == pg.json().get("@odata.count"), params
    first = both(f"/api/v1/datasets/{DATASET}", **{"$top": "5"})[1].json()
    assert [v["enterprise_code"] for v in first["value"]] == sorted(api.expected)[:5]  # byte order
    link = first["@odata.nextLink"]
    second = requests.get(f"{pg_api}{link}", headers=headers).json()
    assert [v["enterprise_code"] for v in second["value"]] == sorted(api.expected)[5:10]
    outside = next(iter(api.expected))
    resident = next(p for p in people(api.communes) if p["residence_commune_code"] == api.communes[0])
    stranger = next(p for p in people(api.communes) if p["residence_commune_code"] == "99999")
    default, pg = both(f"/api/v1/persons/{resident['personal_id']}")
    assert pg.status_code == 200 and pg.json() == default.json()
    assert both(f"/api/v1/persons/{stranger['personal_id']}")[1].status_code == 404
    bad = both(f"/api/v1/datasets/{DATASET}", **{"$filter": "address eq 'x'"})[1]
    assert bad.status_code == 400  # hidden column: refused before any store
    assert requests.get(f"{pg_api}/api/v1/datasets/{DATASET}/key/{outside}").status_code == 401
    assert requests.get(f"{pg_api}/bench/constant").json()["status"] == "ok"


def test_pg_store_types_filter_literals_as_the_default_store(api: Api, pg_api: str) -> None:
    """A literal of the wrong type: the same 400 naming the column (psycopg's own error
    used to answer with another problem); typed comparisons (a date, a timestamp with an
    offset, an int): the same rows as the SQLite copy."""
    headers = {"Authorization": f"Bearer {api.token(typed_role(api))}"}

    def both(dataset: str, filter_: str) -> tuple[requests.Response, requests.Response]:
        params = {"purpose": "inspection", "$filter": filter_, "$count": "true", "$top": "1000"}
        path = f"/api/v1/datasets/{dataset}"
        return (requests.get(f"{api.url}{path}", params=params, headers=headers, timeout=30),
                requests.get(f"{pg_api}{path}", params=params, headers=headers, timeout=30))

    for dataset, filter_, column in ((DATASET, "registered_date eq 'not-a-date'", "registered_date"),
                                     (DATASET, "updated_at gt 5", "updated_at"),
                                     ("person_linked", "land_certificates gt 'abc'", "land_certificates")):
        default, pg = both(dataset, filter_)
        assert default.status_code == pg.status_code == 400, pg.text
        assert default.json() == pg.json() and pg.json()["column"] == column
    key = sorted(api.expected)[0]
    row = requests.get(f"{api.url}/api/v1/datasets/{DATASET}/key/{key}", headers=headers,
                       params={"purpose": "inspection"}).json()
    moment = datetime.fromisoformat(row["updated_at"])
    local = (moment + timedelta(hours=7)).isoformat()
    for dataset, filter_ in ((DATASET, f"registered_date le {row['registered_date']}"),
                             (DATASET, f"updated_at eq {local}+07:00"),
                             (DATASET, f"updated_at lt {moment:%Y-%m-%dT%H:%M}Z"),
                             ("person_linked", "land_certificates in (1, 2)")):
        default, pg = both(dataset, filter_)
        assert default.status_code == pg.status_code == 200, (filter_, pg.text)
        assert sorted(default.json()["value"], key=repr) == sorted(pg.json()["value"], key=repr), filter_
        assert default.json()["@odata.count"] == pg.json()["@odata.count"], filter_
        assert pg.json()["@odata.count"] > 0 or " lt " in filter_, filter_
