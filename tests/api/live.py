"""A live agency API for the HTTP tests: `lgsp serve` (granian, 2 workers) in its own
process over a really published business registry (and a small person_linked), with
clients and grants made by the same functions the CLI calls, and the in-scope rows read
directly from the curated table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import text

from api import clients, grants
from control import db
from lgsp.config import Settings
from tests.opendata.conftest import Published, business_home  # noqa: F401 - fixture
from tests.serving import served
from warehouse.query import curated_connection

DATASET = "business_registry"
COLUMNS = ["enterprise_code", "name", "commune_code", "owner_personal_id"]


@dataclass
class Api:
    url: str
    settings: Settings
    communes: list[str]
    expected: dict[str, dict]  # in-scope rows by key, read directly
    secrets: dict[str, tuple[str, str]]  # role -> (client_id, secret)

    def token(self, role: str) -> str:
        cid, secret = self.secrets[role]
        r = requests.post(f"{self.url}/api/v1/token", data={"grant_type": "client_credentials",
                                                             "client_id": cid, "client_secret": secret})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def get(self, path: str, role: str | None = "commune", purpose: str | None = "inspection",
            **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(role)}"} if role else {}
        if purpose:
            params["purpose"] = purpose
        return requests.get(f"{self.url}{path}", params=params, headers=headers, timeout=30)


PEOPLE = 30


def people(communes: list[str]) -> list[dict[str, Any]]:
    """A small person_linked: residents of the two scoped communes and of one outside."""
    places = [*communes, "99999"]
    return [{"personal_id": f"0010890{i:05d}", "full_name": f"Nguyen Van {i}",
             "residence_commune_code": places[i % 3], "health_card_number": f"DN4010{i:09d}",
             "land_certificates": i % 4} for i in range(PEOPLE)]


def people_table(rows: list[dict[str, Any]]) -> Any:
    """The rows as person_linked's Arrow table (its spec types: text, land_certificates int)."""
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=pa.schema(
        [(k, pa.int64() if k == "land_certificates" else pa.string()) for k in rows[0]]))


def _publish_people(settings: Settings, rows: list[dict[str, Any]]) -> None:
    """person_linked as a real Iceberg table (one snapshot over one Parquet file)."""
    import pyarrow.parquet as pq

    from warehouse import iceberg

    table = people_table(rows)
    path = settings.warehouse_dir / "test-person_linked.parquet"
    pq.write_table(table, path)
    catalog = iceberg.load_catalog(settings)
    ice = iceberg.ensure_table(catalog, iceberg.CURATED, "person_linked", table.schema)
    iceberg.replace_files(ice, lambda _p: True, [str(path)], {})


def _setup(settings: Settings) -> tuple[list[str], dict[str, dict], dict[str, tuple[str, str]]]:
    con = curated_connection(settings)
    communes = [r[0] for r in con.execute(f"SELECT commune_code FROM {DATASET} GROUP BY 1 "
                                          "ORDER BY count(*) DESC, 1 LIMIT 2").fetchall()]
    cur = con.execute(f"SELECT {', '.join(COLUMNS)} FROM {DATASET} WHERE commune_code IN (?, ?)", communes)
    expected = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in cur.fetchall()}
    later = datetime.now(UTC) + timedelta(days=30)
    _publish_people(settings, people(communes))
    out = {}
    with db.session(settings) as s:
        for role in ("commune", "stranger", "expired", "doomed", "fuzzer", "dpo", "wide"):
            # "wide": the same two communes among ten with no rows: a scope past SQLite's
            # IN-list limit, read from a temp table on the serving copy (api/dialects.py)
            mine = [*communes, *(f"8{i:04d}" for i in range(10))] if role == "wide" else communes
            issued = clients.register(s, settings, name=role, agency="UBND", communes=mine,
                                      rate_per_minute=10**6, roles=["dpo"] if role == "dpo" else [],
                                      actor="cli:test")
            out[role] = (issued.client_id, issued.secret)
            if role in ("stranger", "dpo"):
                continue
            g = grants.grant(s, settings, client_id=issued.client_id, dataset=DATASET, columns=COLUMNS,
                             masks={"owner_personal_id": "last4"},
                             row_scope=[grants.parse_scope_clause("commune_code in client.communes")],
                             purposes=["inspection"], legal_basis="Law on Enterprises 2020",
                             expires_at=later, actor="cli:test")
            grants.approve(s, settings, g.id, actor="cli:owner")
            p = grants.grant(s, settings, client_id=issued.client_id, dataset="person_linked",
                             columns=["personal_id", "full_name", "residence_commune_code"],
                             masks={"personal_id": "last4"},
                             row_scope=[grants.parse_scope_clause(
                                 "residence_commune_code in client.communes")],
                             purposes=["inspection"], legal_basis="Decree 13/2023", expires_at=later,
                             actor="cli:test")
            grants.approve(s, settings, p.id, actor="cli:owner")
            if role == "expired":  # as if its expiry had passed
                s.flush()
                s.execute(text("UPDATE api_grants SET expires_at = :t WHERE id = :i"),
                          {"t": datetime.now(UTC) - timedelta(days=1), "i": g.id})
    return communes, expected, out


TYPED_COLUMNS = ["enterprise_code", "commune_code", "registered_date", "updated_at"]


def typed_role(api: Api) -> str:
    """A client ("typed", made on first use) granted columns of every kind the live data
    has: business_registry's codes, a date and a timestamp; person_linked's land
    certificates (an int), each in the two scoped communes."""
    if "typed" not in api.secrets:
        later = datetime.now(UTC) + timedelta(days=30)
        with db.session(api.settings) as s:
            issued = clients.register(s, api.settings, name="typed", agency="UBND",
                                      communes=api.communes, rate_per_minute=10**6, actor="cli:test")
            for dataset, columns, scope in (
                    (DATASET, TYPED_COLUMNS, "commune_code in client.communes"),
                    ("person_linked", ["full_name", "residence_commune_code", "land_certificates"],
                     "residence_commune_code in client.communes")):
                g = grants.grant(s, api.settings, client_id=issued.client_id, dataset=dataset,
                                 columns=columns, row_scope=[grants.parse_scope_clause(scope)],
                                 purposes=["inspection"], legal_basis="Law on Enterprises 2020",
                                 expires_at=later, actor="cli:test")
                if g.approval == "requested":
                    grants.approve(s, api.settings, g.id, actor="cli:owner")
        api.secrets["typed"] = (issued.client_id, issued.secret)
    return "typed"


@pytest.fixture(scope="session")
def api(business_home: Published) -> Iterator[Api]:  # noqa: F811
    settings = business_home.settings
    communes, expected, secrets = _setup(settings)
    with served(settings.home) as url:
        yield Api(url, settings, communes, expected, secrets)
