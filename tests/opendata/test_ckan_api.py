"""The CKAN-compatible Action API through `ckanapi` (the CKAN project's own client) against
`lgsp serve` in its own process. Expected values come from the spec files (read as YAML
here) and from the export files themselves (read with the csv module), not from the code
under test. The catalogue holds the two open specs: the business registry (published and
exported) and the land parcels (catalogued, not published in this test), and the open
indicator computed from the business registry."""

from __future__ import annotations

import csv
import hashlib
import json

import ckanapi
import pytest
import requests
import yaml

from catalog.spec import DATASETS_DIR
from opendata.indicator_files import SPECS_DIR
from tests.opendata.conftest import LiveServer

BUSINESS = yaml.safe_load((DATASETS_DIR / "business_registry.yaml").read_text("utf-8"))
LAND = yaml.safe_load((DATASETS_DIR / "land_parcels.yaml").read_text("utf-8"))
INDICATORS = [yaml.safe_load(p.read_text("utf-8")) for p in sorted(SPECS_DIR.glob("*.yaml"))]
INDICATORS = [i for i in INDICATORS if i["source"] == "business_registry"]
BUSINESS_IDS = ["business_registry", *(i["id"] for i in INDICATORS)]
"""The business registry and the indicators over it (its agency's packages)."""
OPEN_IDS = sorted([p.stem for p in DATASETS_DIR.glob("*.yaml")
                   if yaml.safe_load(p.read_text("utf-8")).get("open_data")] + BUSINESS_IDS[1:])
"""The open specs and the indicators whose source (the business registry) is published."""


@pytest.fixture(scope="module")
def ckan(live_server: LiveServer) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(live_server.url, user_agent="lgsp-tests")


@pytest.fixture(scope="module")
def ckan_get(live_server: LiveServer) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(live_server.url, user_agent="lgsp-tests", get_only=True)


@pytest.fixture(scope="module")
def csv_rows(live_server: LiveServer) -> list[dict[str, str]]:
    folder = live_server.published.settings.home / "opendata" / "business_registry"
    (path,) = [p for p in folder.glob("*/*.csv") if not p.name.endswith(".bom.csv")]
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_status_and_lists(ckan: ckanapi.RemoteCKAN) -> None:
    status = ckan.action.status_show()
    assert status["ckan_version"].startswith("2.") and "datastore" in status["extensions"]
    assert ckan.action.package_list() == OPEN_IDS
    orgs = ckan.action.organization_list(all_fields=True)
    assert sorted(o["title"] for o in orgs) == sorted(
        [BUSINESS["owner"]["agency"]["vi"], LAND["owner"]["agency"]["vi"]])
    counts = {o["title"]: o["package_count"] for o in orgs}
    assert counts == {BUSINESS["owner"]["agency"]["vi"]: len(BUSINESS_IDS), LAND["owner"]["agency"]["vi"]: 1}
    assert sorted(ckan.action.group_list()) == ["econ", "regi"]
    assert ckan.action.tag_list() == sorted(
        set(BUSINESS["keywords"]) | set(LAND["keywords"])
        | {k for i in INDICATORS for k in i["keywords"]})
    assert ckan.action.tag_list(query="đất") == sorted(t for t in LAND["keywords"] if "đất" in t)


def test_package_show_and_resources(ckan: ckanapi.RemoteCKAN, live_server: LiveServer) -> None:
    pkg = ckan.action.package_show(id="business_registry")
    assert pkg["title"] == BUSINESS["title"]["vi"] and pkg["license_id"] == BUSINESS["licence"]
    assert pkg["organization"]["title"] == BUSINESS["owner"]["agency"]["vi"]
    assert [t["name"] for t in pkg["tags"]] == BUSINESS["keywords"]
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert float(extras["quality_score"]) > 0 and extras["overdue"] in ("true", "false")
    names = {c["name"] for c in BUSINESS["columns"] if c["classification"] == "public"}
    assert {c["name"] for c in pkg["schema"]} == names
    assert "owner_personal_id" not in str(pkg)
    assert len(pkg["resources"]) == pkg["num_resources"] == 6
    for res in pkg["resources"]:
        body = requests.get(res["url"], timeout=30).content
        assert res["hash"] == "sha256:" + hashlib.sha256(body).hexdigest()
        assert res["size"] == len(body)
        assert ckan.action.resource_show(id=res["id"])["url"] == res["url"]
    land = ckan.action.package_show(id="land_parcels")
    assert land["num_resources"] == 0 and land["title"] == LAND["title"]["vi"]


def test_package_search_q_fq_facets_paging_sort(ckan: ckanapi.RemoteCKAN,
                                                ckan_get: ckanapi.RemoteCKAN) -> None:
    everything = ckan.action.package_search()
    assert everything["count"] == len(OPEN_IDS)
    # Vietnamese with and without diacritics, and column names.
    for q in ("doanh nghiệp", "doanh nghiep", "DOANH NGHIEP"):
        found = ckan.action.package_search(q=q)
        assert sorted(p["name"] for p in found["results"]) == BUSINESS_IDS, q
    assert [p["name"] for p in ckan.action.package_search(q="sector_code")["results"]] == [
        "business_registry"]  # column names are searched too
    assert [p["name"] for p in ckan.action.package_search(q="thua dat")["results"]] == ["land_parcels"]
    assert ckan.action.package_search(q="doanh nghiep thua dat")["count"] == 0  # words AND-ed
    # whole words, as Solr matches them: "ghiep" is not found inside "nghiệp"
    assert ckan.action.package_search(q="ghiep")["count"] == 0
    assert [p["name"] for p in ckan.action.package_search(q="cadastre")["results"]] == [
        "land_parcels"]
    org = ckan.action.package_show(id="land_parcels")["owner_org"]
    by_org = ckan.action.package_search(fq=f"organization:{org}")
    assert [p["name"] for p in by_org["results"]] == ["land_parcels"]
    assert ckan.action.package_search(fq=f"-organization:{org}")["count"] == len(OPEN_IDS) - 1
    assert sorted(p["name"] for p in ckan.action.package_search(fq="res_format:CSV")["results"]) == \
        BUSINESS_IDS
    assert ckan.action.package_search(fq='tags:"đất đai" groups:regi')["count"] == 1
    faceted = ckan.action.package_search(**{"facet.field": ["organization", "res_format"],
                                            "facet.limit": 1})
    assert len(faceted["facets"]["organization"]) == 1  # limited to one entry
    full = ckan_get.action.package_search(**{"facet.field": '["organization","groups"]'})
    assert full["facets"]["groups"] == {"econ": len(BUSINESS_IDS), "regi": 1}  # spec themes
    assert {i["display_name"] for i in full["search_facets"]["organization"]["items"]} == {
        BUSINESS["owner"]["agency"]["vi"], LAND["owner"]["agency"]["vi"]}
    asc = [p["name"] for p in ckan.action.package_search(sort="name asc")["results"]]
    desc = [p["name"] for p in ckan.action.package_search(sort="name desc")["results"]]
    assert asc == sorted(OPEN_IDS) and desc == asc[::-1]
    page = ckan.action.package_search(sort="name asc", rows=1, start=1)
    assert page["count"] == len(OPEN_IDS) and [p["name"] for p in page["results"]] == asc[1:2]


def test_ckan_error_shapes(ckan: ckanapi.RemoteCKAN, ckan_get: ckanapi.RemoteCKAN,
                           live_server: LiveServer) -> None:
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="no_such_dataset")
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="population")  # exists, but is not open data
    with pytest.raises(ckanapi.NotFound):
        ckan.action.organization_show(id="nobody")
    with pytest.raises(ckanapi.NotFound):
        ckan.action.resource_show(id="business_registry-1-csv")
    with pytest.raises(ckanapi.ValidationError) as err:
        ckan_get.action.package_search(rows="many")
    assert err.value.error_dict["rows"] == ["Invalid integer"]
    with pytest.raises(ckanapi.ValidationError) as err:
        ckan.action.package_show()
    assert "id" in err.value.error_dict
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(sort="secret_column asc")
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(fq="owner_personal_id:1")
    raw = requests.get(f"{live_server.url}/api/3/action/no_such_action", timeout=30)
    assert raw.status_code == 400 and raw.json()["success"] is False
    missing = requests.get(f"{live_server.url}/api/3/action/package_show?id=x", timeout=30)
    assert missing.status_code == 404
    assert missing.json()["error"]["__type"] == "Not Found Error" and "help" in missing.json()


def test_organization_show_with_datasets(ckan: ckanapi.RemoteCKAN) -> None:
    org = ckan.action.package_show(id="business_registry")["owner_org"]
    shown = ckan.action.organization_show(id=org, include_datasets=True)
    assert shown["title"] == BUSINESS["owner"]["agency"]["vi"]
    assert [p["name"] for p in shown["packages"]] == BUSINESS_IDS


def test_datastore_search(ckan: ckanapi.RemoteCKAN, ckan_get: ckanapi.RemoteCKAN,
                          csv_rows: list[dict[str, str]]) -> None:
    res = next(r for r in ckan.action.package_show(id="business_registry")["resources"]
               if r["format"] == "CSV")
    everything = ckan.action.datastore_search(resource_id=res["id"], limit=32000)
    assert everything["total"] == len(csv_rows)
    assert [r["enterprise_code"] for r in everything["records"]] == [
        r["enterprise_code"] for r in csv_rows]
    assert "owner_personal_id" not in {f["id"] for f in everything["fields"]}

    branches = [r for r in csv_rows if r["unit_type"] == "chi nhánh"]
    assert branches
    got = ckan.action.datastore_search(resource_id=res["id"], filters={"unit_type": "chi nhánh"},
                                       fields=["enterprise_code", "name"],
                                       sort="enterprise_code desc", limit=5, offset=2)
    want = sorted((r["enterprise_code"] for r in branches), reverse=True)[2:7]
    assert [r["enterprise_code"] for r in got["records"]] == want
    assert got["total"] == len(branches)
    assert set(got["records"][0]) == {"_id", "enterprise_code", "name"}

    commune = csv_rows[0]["commune_code"]
    two = ckan_get.action.datastore_search(
        resource_id=res["id"], filters=json.dumps({"commune_code": [commune, "00000"]}))
    assert two["total"] == sum(r["commune_code"] == commune for r in csv_rows)

    word = csv_rows[0]["name"].split()[-1]
    hits = ckan.action.datastore_search(resource_id=res["id"], q=word, limit=32000)
    assert hits["total"] == sum(any(word.lower() in (v or "").lower() for v in r.values())
                                for r in csv_rows)
    no_total = ckan.action.datastore_search(resource_id=res["id"], include_total=False, limit=1)
    assert "total" not in no_total and len(no_total["records"]) == 1

    with pytest.raises(ckanapi.ValidationError) as err:
        ckan.action.datastore_search(resource_id=res["id"], fields=["owner_personal_id"])
    assert "fields" in err.value.error_dict
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.datastore_search(resource_id=res["id"], filters={"owner_personal_id": "1"})
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.datastore_search(resource_id=res["id"], sort="name; DROP TABLE x")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.datastore_search(resource_id=res["id"], limit=-1)
    with pytest.raises(ckanapi.NotFound):
        ckan.action.datastore_search(resource_id="nothing")


def test_personal_data_never_in_api_answers(ckan: ckanapi.RemoteCKAN, live_server: LiveServer) -> None:
    answers = [ckan.action.package_search(rows=1000), ckan.action.package_show(id="business_registry")]
    res = answers[1]["resources"][0]["id"]
    answers.append(ckan.action.datastore_search(resource_id=res, limit=32000))
    text = str(answers)
    leaked = [pid for pid in live_server.published.owner_ids if pid in text]
    assert leaked == []
