"""Issue 11 case 5 on REST: a registry whose clock runs behind ours stamps a change inside a
window we already closed; with `lag` declared, the next run re-reads it (and re-reading the
unchanged records costs no duplicate and no quarantine). A real HTTP server on 127.0.0.1
serving `updated_since`/`updated_until` windows, through the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from catalog.spec import get_spec
from connectors.state import StateStore
from lgsp import pipeline
from tests.expectations.test_gate_population import person
from tests.http_stub import send_body, serve
from warehouse.query import curated_connection

SKEW = timedelta(minutes=5)


class _Registry(BaseHTTPRequestHandler):
    records: dict[str, dict[str, str | None]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        query = parse_qs(urlparse(self.path).query)
        since = query.get("updated_since", [None])[0]
        until = query.get("updated_until", [None])[0]

        def inside(stamp: str | None) -> bool:
            t = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            if t.tzinfo is None:  # the registry's own wall clock (Vietnam)
                t = t.replace(tzinfo=timezone(timedelta(hours=7)))
            return ((since is None or t > datetime.fromisoformat(since.replace("Z", "+00:00")))
                    and (until is None or t <= datetime.fromisoformat(until.replace("Z", "+00:00"))))

        body = orjson.dumps({"data": [r for r in self.records.values() if inside(r["updated_at"])],
                             "next_cursor": None})
        send_body(self, body, "application/json")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[tuple[str, dict[str, dict[str, str | None]]]]:
    records: dict[str, dict[str, str | None]] = {}
    handler = type("Handler", (_Registry,), {"records": records})
    with serve(handler) as url:
        yield url, records


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def test_case5_registry_clock_behind_ours_is_covered_by_lag(registry, settings):
    url, records = registry
    spec = get_spec("population")
    params = {**spec.source.params, "base_url": url, "lag": "10m"}
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"params": params})})
    start = datetime.now(UTC) - timedelta(days=1)
    for i in range(20):
        p = person(updated_at=_stamp(start + timedelta(minutes=i)))
        records[str(p["personal_id"])] = p
    first = pipeline.run_dataset(spec, settings, use_gx=False)
    assert first.published == 20
    watermark = StateStore(settings.state_dir).get("population").watermark
    assert watermark is not None
    # Just after the run the registry changes a record; its clock, 5 minutes behind ours,
    # stamps the change before our watermark.
    changed = sorted(records)[3]
    records[changed] = {**records[changed], "residence_address": "Ấp 7",
                        "updated_at": _stamp(watermark + timedelta(seconds=2) - SKEW)}
    second = pipeline.run_dataset(spec, settings, use_gx=False)
    assert not second.blocked and second.quarantined == 0
    curated = dict(curated_connection(settings).execute(
        "SELECT personal_id, residence_address FROM population").fetchall())
    assert curated == {k: r["residence_address"] for k, r in records.items()}


@pytest.mark.parametrize(("zone", "hours"), [("Asia/Ho_Chi_Minh", 7), ("+07:00", 7)])
def test_case6_naive_local_timestamps_from_rest_are_stored_as_instants(registry, settings, zone,
                                                                       hours):
    url, records = registry
    spec = get_spec("population")
    params = {**spec.source.params, "base_url": url}
    if zone:
        params["timezone"] = zone
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"params": params})})
    local = datetime(2026, 11, 1, 8, 0, 0)
    naive = person(updated_at=local.isoformat(sep=" "))
    aware = person(updated_at="2026-11-01T08:00:00+07:00")
    records.update({str(naive["personal_id"]): naive, str(aware["personal_id"]): aware})
    assert pipeline.run_dataset(spec, settings, use_gx=False).published == 2
    stored = dict(curated_connection(settings).execute(
        "SELECT personal_id, updated_at FROM population").fetchall())
    assert stored[naive["personal_id"]] == local - timedelta(hours=hours)
    assert stored[aware["personal_id"]] == datetime(2026, 11, 1, 1, 0, 0)  # its own offset


def test_a_naive_timestamp_from_a_source_that_names_no_zone_is_refused_not_guessed(registry,
                                                                                  settings):
    """Without `source.params.timezone` a time without its offset could be any zone's (a
    Vietnamese registry's local time read as UTC is 7 hours off): the castable check refuses
    it, naming the column and the form it expects, and nothing is published."""
    url, records = registry
    spec = get_spec("population")
    params = {**spec.source.params, "base_url": url}
    spec = spec.model_copy(update={"source": spec.source.model_copy(update={"params": params})})
    naive = person(updated_at="2026-11-01 08:00:00")
    records.update({str(naive["personal_id"]): naive})
    summary = pipeline.run_dataset(spec, settings, use_gx=False)
    assert summary.blocked and summary.published == 0
    assert any("castable:updated_at" in reason for reason in summary.block_reasons), \
        summary.block_reasons
