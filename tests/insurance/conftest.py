"""The real simulated insurance service (SOAP over HTTP on 127.0.0.1) for the insurance tests,
its admin API, and the population published from the same size and seed (for the
cross-registry check)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import requests

from catalog.spec import DatasetSpec, get_spec
from expectations.gate import run_gate
from lgsp.config import Settings
from registries.insurance.generator import DEFAULT_AS_OF
from registries.process import RegistryProcess
from warehouse.publish import publish
from warehouse.raw_zone import RawRunWriter, new_run_id

SIZE = 2500
SEED = 11
USER, PASSWORD = "lgsp-test", "test-secret"
ARGS = ["--size", str(SIZE), "--seed", str(SEED), "--username", USER, "--password", PASSWORD]


def start_registry(port: int | None = None) -> RegistryProcess:
    return RegistryProcess("registries.insurance", ARGS, port=port)


@pytest.fixture(scope="module")
def registry() -> Iterator[RegistryProcess]:
    """One service per test module: modules that change its data do not affect others."""
    with start_registry() as proc:
        yield proc


class Admin:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.headers = {"X-Admin-Token": PASSWORD}

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        resp = requests.request(method, f"{self.base_url}/admin/{path}", json=payload,
                                headers=self.headers, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def faults(self, *faults: dict[str, Any]) -> None:
        self._call("POST", "faults", list(faults))

    def schema(self, add: dict[str, str] | None = None, drop: list[str] | None = None) -> None:
        self._call("POST", "schema", {"add": add or {}, "drop": drop or []})

    def clear(self) -> None:
        self._call("DELETE", "faults")
        self._call("DELETE", "schema")

    def advance(self, **changes: int) -> dict[str, Any]:
        return self._call("POST", "advance", changes)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")


@pytest.fixture
def admin(registry: RegistryProcess) -> Iterator[Admin]:
    a = Admin(registry.base_url)
    a.clear()
    yield a
    a.clear()


@pytest.fixture
def env(registry: RegistryProcess, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    point_at(monkeypatch, registry.base_url)
    return settings


def point_at(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    monkeypatch.setenv("LGSP_INSURANCE_URL", base_url)
    monkeypatch.setenv("LGSP_INSURANCE_USER", USER)
    monkeypatch.setenv("LGSP_INSURANCE_PASSWORD", PASSWORD)


def spec_with(page_size: int = 500, **params: Any) -> DatasetSpec:
    """The insurance spec with small pages and a fast retry budget (tests wait little)."""
    spec = get_spec("insurance_members")
    retry = {"max_attempts": 3, "budget_seconds": 10, "backoff_initial": 0.05, "backoff_max": 0.2,
             **params.pop("retry", {})}
    merged = {**spec.source.params, "page_size": page_size, "retry": retry, **params}
    return spec.model_copy(update={"source": spec.source.model_copy(update={"params": merged})})


def publish_population(settings: Settings, size: int = SIZE, seed: int = SEED) -> pa.Table:
    """Publish the clean people of the population of the same size and seed straight from
    its generator (no HTTP): the curated table the insurance spec's exists_in check reads."""
    from registries.population.generator import generate_population

    table = generate_population(size, seed, as_of=DEFAULT_AS_OF)
    table = table.filter(pc.is_null(table.column("_defect")))  # the people members refer to
    spec = get_spec("population")
    raw = table.drop_columns([c for c in table.column_names if c.startswith("_")])
    writer = RawRunWriter(root=settings.raw_dir, dataset="population", run_id=new_run_id(),
                          source={"connector": "test"},
                          window={"since": None, "until": "2026-11-01T00:00:00+00:00"})
    for batch in raw.to_batches(max_chunksize=50_000):
        writer.write(batch)
    run = writer.commit(schema_drift={"extra_columns": [], "missing_columns": []})
    gate = run_gate(spec, run, settings, use_gx=False)
    assert not gate.blocked, gate.block_reasons
    publish(spec, run, gate, settings)
    return table
