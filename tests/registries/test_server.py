"""The population registry over real HTTP on 127.0.0.1 (a child process per module fixture):
auth, paging, the updated_at window, time passing, fault injection and bad parameters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
import requests

from registries.population.generator import PUBLIC_COLUMNS
from registries.process import RegistryProcess, RegistryStartError
from tests.registries.conftest import AS_OF, SEED, SIZE, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ARGS = ["--size", str(SIZE), "--seed", str(SEED), "--token", TOKEN, "--as-of", AS_OF]


@pytest.fixture(scope="module")
def registry() -> Iterator[RegistryProcess]:
    with RegistryProcess("registries.population", ARGS) as proc:
        yield proc


@pytest.fixture
def api(registry: RegistryProcess) -> Iterator[str]:
    """The base URL, with no fault pending before or after the test."""
    requests.delete(f"{registry.base_url}/admin/faults", headers=AUTH, timeout=5)
    yield registry.base_url
    requests.delete(f"{registry.base_url}/admin/faults", headers=AUTH, timeout=5)


def get(base: str, timeout: float = 10, **params: Any) -> requests.Response:
    return requests.get(f"{base}/api/v1/citizens", params=params, headers=AUTH, timeout=timeout)


def pull_all(base: str, **params: Any) -> list[dict]:
    records, cursor = [], None
    while True:
        resp = get(base, **params, **({"cursor": cursor} if cursor else {}))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == {"data", "next_cursor", "page_size"}
        records += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return records


def faults(base: str, *specs: dict) -> None:
    resp = requests.post(f"{base}/admin/faults", json=list(specs), headers=AUTH, timeout=5)
    assert resp.status_code == 200, resp.text


def test_health_needs_no_token(api: str) -> None:
    resp = requests.get(f"{api}/health", timeout=5)
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401(api: str, headers: dict) -> None:
    for method, path in (
        ("GET", "/api/v1/citizens"),
        ("GET", "/admin/stats"),
        ("POST", "/admin/faults"),
        ("POST", "/admin/advance"),
    ):
        resp = requests.request(method, f"{api}{path}", headers=headers, timeout=5)
        assert resp.status_code == 401
        assert resp.json()["error"] == "unauthorized"


def test_paging_serves_every_row_exactly_once(api: str, population: pa.Table) -> None:
    served = pull_all(api, page_size=300)
    assert len(served) == population.num_rows
    assert served == population.select(list(PUBLIC_COLUMNS)).to_pylist()
    assert not any(k.startswith("_") for r in served for k in r)
    # The default page size is 1000.
    body = get(api).json()
    assert len(body["data"]) == 1000 and body["page_size"] == 1000


def test_updated_window(api: str, population: pa.Table) -> None:
    since, until = "2026-03-01T00:00:00Z", "2026-06-30T12:00:00Z"
    got = pull_all(api, updated_since=since, updated_until=until, page_size=100)
    expected = [
        r for r in population.select(list(PUBLIC_COLUMNS)).to_pylist() if since < r["updated_at"] <= until
    ]
    assert got == expected and 0 < len(got) < population.num_rows
    # An offset form of the same instant gives the same rows.
    same = pull_all(
        api,
        updated_since="2026-03-01T07:00:00+07:00",
        updated_until="2026-06-30T12:00:00+00:00",
        page_size=10_000,
    )
    assert same == expected
    first = min(population["updated_at"].to_pylist())
    assert [r["updated_at"] for r in pull_all(api, updated_until=first)] == [first]
    assert all(r["updated_at"] != first for r in pull_all(api, updated_since=first))


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 10_001}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_until": "2026-13-01"}, "updated_until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"since": "2026-01-01"}, "since"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api: str, params: dict, parameter: str) -> None:
    resp = get(api, **params)
    assert resp.status_code == 400
    body = resp.json()
    assert body["parameter"] == parameter and parameter in body["message"]


def test_status_faults_then_success(api: str) -> None:
    faults(api, {"kind": "status", "status": 500, "count": 3})
    assert [get(api, page_size=5).status_code for _ in range(4)] == [500, 500, 500, 200]
    body = get(api, page_size=5).json()
    assert len(body["data"]) == 5


def test_retry_after(api: str) -> None:
    faults(api, {"kind": "retry_after", "status": 429, "retry_after": 1, "count": 2})
    for _ in range(2):
        resp = get(api)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
        assert resp.json()["error"] == "injected_fault"
    assert get(api).status_code == 200


def test_delay_times_the_client_out_while_the_server_stays_responsive(api: str) -> None:
    faults(api, {"kind": "delay", "seconds": 1.5, "count": 1})
    outcome: dict[str, BaseException] = {}

    def slow() -> None:
        try:
            get(api, timeout=0.8)
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    started = time.perf_counter()
    assert requests.get(f"{api}/health", timeout=5).status_code == 200
    assert time.perf_counter() - started < 0.5
    thread.join()
    assert isinstance(outcome.get("error"), requests.Timeout)
    assert get(api).status_code == 200


def test_fail_after_pages(api: str) -> None:
    faults(api, {"kind": "fail_after_pages", "pages": 2, "status": 503, "count": 3})
    codes = [get(api, page_size=10).status_code for _ in range(6)]
    assert codes == [200, 200, 503, 503, 503, 200]


def test_bad_faults_are_rejected(api: str) -> None:
    for spec in ({"kind": "explode"}, {"kind": "status", "count": 0}, [{"kind": "delay", "seconds": "a"}]):
        resp = requests.post(f"{api}/admin/faults", json=spec, headers=AUTH, timeout=5)
        assert resp.status_code == 400, spec
    assert get(api).status_code == 200


def test_stats(api: str) -> None:
    before = requests.get(f"{api}/admin/stats", headers=AUTH, timeout=5).json()
    faults(api, {"kind": "status", "status": 502, "count": 1})
    get(api), get(api)
    after = requests.get(f"{api}/admin/stats", headers=AUTH, timeout=5).json()
    assert after["rows"] == SIZE and after["clock"] == "2026-11-01T00:00:00Z"
    assert after["requests"] == before["requests"] + 2
    assert after["faults_served"] == before["faults_served"] + 1


def test_advance_then_incremental_pull_returns_exactly_the_changes(population: pa.Table) -> None:
    with RegistryProcess("registries.population", ARGS) as proc:
        base = proc.base_url
        first = pull_all(base, updated_until="2026-11-01T00:00:00Z", page_size=10_000)
        assert len(first) == SIZE
        resp = requests.post(
            f"{base}/admin/advance",
            headers=AUTH,
            timeout=30,
            json={"days": 30, "births": 50, "deaths": 20, "moves": 40},
        )
        assert resp.status_code == 200, resp.text
        result = resp.json()
        assert result["clock"] == "2026-12-01T00:00:00Z" and result["changed"] == 110
        changes = pull_all(
            base, updated_since="2026-11-01T00:00:00Z", updated_until=result["clock"], page_size=25
        )
        assert len(changes) == 110
        known = {r["personal_id"] for r in first}
        assert sum(r["personal_id"] not in known for r in changes) == 50
        assert sum(r["status"] == "Đã mất" and r["date_of_death"] >= "2026-11-01" for r in changes) == 20
        stats = requests.get(f"{base}/admin/stats", headers=AUTH, timeout=5).json()
        assert stats["rows"] == SIZE + 50 and stats["clock"] == result["clock"]
        # Nothing changed before the old clock but the rows that were just changed.
        assert len(pull_all(base, page_size=10_000)) == SIZE + 50
        bad = requests.post(
            f"{base}/admin/advance", headers=AUTH, timeout=30, json={"days": 1, "deaths": 10**6}
        )
        assert bad.status_code == 400 and bad.json()["parameter"] == "deaths"
        proc.kill()
        assert not proc.running
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{base}/health", timeout=2)


def test_a_registry_that_cannot_start_reports_its_output() -> None:
    with (
        pytest.raises(RegistryStartError, match="exited with code") as err,
        RegistryProcess("registries.population", [*ARGS, "--defect-rate", "7"], startup_timeout=30),
    ):
        pass
    assert "defect_rate" in str(err.value)


def test_simulation_exports_what_the_population_spec_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from registries.population.simulation import simulate

    monkeypatch.setenv("LGSP_POPULATION_TOKEN", TOKEN)
    with simulate(size=300, seed=1) as env:
        assert env["LGSP_POPULATION_TOKEN"] == TOKEN
        resp = requests.get(f"{env['LGSP_POPULATION_URL']}/api/v1/citizens", headers=AUTH, timeout=10)
        assert resp.status_code == 200 and len(resp.json()["data"]) == 300
