"""The catalogue on PostgreSQL (LGSP_CONTROL_DB_URI in deployment): the same export and
indicator recorded in a real PostgreSQL database the test creates, read back the same way."""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine

from catalog import catalogue
from opendata.exports import current_distributions, export_dataset
from tests.control.test_migrations import pg_engine  # noqa: F401 - fixture
from tests.opendata.conftest import Published


def test_catalogue_and_distributions_on_postgresql(business_home: Published,
                                                   pg_engine: Engine) -> None:  # noqa: F811
    settings = dataclasses.replace(business_home.settings,
                                   control_uri=pg_engine.url.render_as_string(hide_password=False))
    manifest = export_dataset(business_home.spec, settings)
    dists = current_distributions(settings, "business_registry")
    assert {(d.format, d.sha256) for d in dists} == {(f.format, f.sha256) for f in manifest.files}
    entry = catalogue.entry(settings, "business_registry")
    assert entry is not None and entry.open_data
    assert [c["name"] for c in entry.schema if not c["open"]] == ["owner_personal_id"]
    runs = catalogue.runs(settings, "business_registry")
    assert [r.snapshot_id for r in runs] == [manifest.snapshot_id]
    assert catalogue.freshness(settings, entry).last_publish is not None
