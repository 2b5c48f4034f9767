"""The catalogue entry of a published open dataset: derived from the spec (schema with
classifications, which columns are open), freshness against the update frequency and
Decree 47/2020's three months (a given `now`, no wall clock), and sample rows that never hold
a closed column or a personal value."""

from __future__ import annotations

from datetime import timedelta

import yaml

from catalog import catalogue
from catalog.spec import DATASETS_DIR
from opendata.exports import sample_rows
from tests.opendata.conftest import LiveServer

BUSINESS = yaml.safe_load((DATASETS_DIR / "business_registry.yaml").read_text("utf-8"))


def test_entry_schema_and_freshness(live_server: LiveServer) -> None:
    settings = live_server.published.settings
    entry = catalogue.entry(settings, "business_registry")
    assert entry is not None and entry.open_data and entry.title_en == BUSINESS["title"]["en"]
    assert {c["name"]: c["classification"] for c in entry.schema} == {
        c["name"]: c.get("classification", "internal") for c in BUSINESS["columns"]}
    assert [c["name"] for c in entry.schema if not c["open"]] == ["owner_personal_id"]
    assert entry.max_age_days == 2  # daily updates: overdue after two days
    last = catalogue.runs(settings, "business_registry")[-1].published_at
    fresh = catalogue.freshness(settings, entry, now=last + timedelta(hours=12))
    assert not fresh.overdue and not fresh.stale_open_data
    late = catalogue.freshness(settings, entry, now=last + timedelta(days=3))
    assert late.overdue and not late.stale_open_data
    old = catalogue.freshness(settings, entry, now=last + timedelta(days=91))
    assert old.overdue and old.stale_open_data
    land = catalogue.entry(settings, "land_parcels")
    assert land is not None and catalogue.freshness(settings, land).last_publish is None


def test_sample_rows_hold_only_open_columns(live_server: LiveServer) -> None:
    settings = live_server.published.settings
    rows = sample_rows(settings, "business_registry", limit=50)
    assert len(rows) == 50
    open_names = [c["name"] for c in BUSINESS["columns"] if c.get("classification") == "public"]
    assert all(list(r) == open_names for r in rows)
    text = " ".join(str(v) for r in rows for v in r.values())
    assert not [p for p in live_server.published.owner_ids if p in text]
    assert sample_rows(settings, "population") == []


def test_lineage_and_versions_through_package_show(live_server: LiveServer) -> None:
    """source -> raw run -> curated snapshot -> export files, and the Iceberg versions, as
    package_show gives them (real HTTP): the chain ends at the files actually served."""
    import json

    import requests

    from warehouse import iceberg

    settings = live_server.published.settings
    resp = requests.get(f"{live_server.url}/api/3/action/package_show",
                        params={"id": "business_registry"}, timeout=60).json()
    extras = {e["key"]: e["value"] for e in resp["result"]["extras"]}
    lineage, versions = json.loads(extras["lineage"]), json.loads(extras["versions"])
    runs = catalogue.runs(settings, "business_registry")
    assert [step["run_id"] for step in lineage] == [r.run_id for r in runs]
    last = lineage[-1]
    assert last["connector"] == "file_drop" and last["source"]
    table = iceberg.load_catalog(settings).load_table((iceberg.CURATED, "business_registry"))
    assert last["snapshot_id"] == table.current_snapshot().snapshot_id  # type: ignore[union-attr]
    served = {r["url"].rsplit("/", 1)[1]: r for r in resp["result"]["resources"]}  # by format id
    assert {e["format"] for e in last["exports"]} == set(served)
    for export in last["exports"]:
        assert (settings.home / export["path"]).stat().st_size == export["byte_size"]
        assert served[export["format"]]["hash"].endswith(export["sha256"])
    assert {v["snapshot_id"] for v in versions} == {s.snapshot_id for s in table.snapshots()}
    assert [v["committed_at"] for v in versions] == sorted((v["committed_at"] for v in versions),
                                                           reverse=True)
    assert [v["current"] for v in versions][0] and sum(v["current"] for v in versions) == 1
    assert versions[0]["exported_formats"] == sorted(served)
