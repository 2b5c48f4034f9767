"""A real simulated population registry (HTTP on 127.0.0.1) for the pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from registries.process import RegistryProcess

TOKEN = "test-token"
SIZE = 3000
SEED = 7


@pytest.fixture(scope="module")
def registry() -> Iterator[RegistryProcess]:
    with RegistryProcess("registries.population",
                         ["--size", str(SIZE), "--seed", str(SEED), "--token", TOKEN,
                          "--as-of", "2026-11-01"]) as proc:
        yield proc


class Admin:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def faults(self, *faults: dict) -> None:
        requests.post(f"{self.base_url}/admin/faults", json=list(faults), headers=self.headers,
                      timeout=10).raise_for_status()

    def clear(self) -> None:
        requests.delete(f"{self.base_url}/admin/faults", headers=self.headers,
                        timeout=10).raise_for_status()

    def advance(self, **changes: int) -> dict:
        resp = requests.post(f"{self.base_url}/admin/advance", json=changes,
                             headers=self.headers, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def stats(self) -> dict:
        return requests.get(f"{self.base_url}/admin/stats", headers=self.headers, timeout=10).json()


@pytest.fixture
def admin(registry: RegistryProcess) -> Iterator[Admin]:
    a = Admin(registry.base_url)
    a.clear()
    yield a
    a.clear()


@pytest.fixture
def env(registry: RegistryProcess, monkeypatch: pytest.MonkeyPatch, settings) -> object:
    monkeypatch.setenv("LGSP_POPULATION_URL", registry.base_url)
    monkeypatch.setenv("LGSP_POPULATION_TOKEN", TOKEN)
    return settings
