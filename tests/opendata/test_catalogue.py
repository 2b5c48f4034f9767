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
