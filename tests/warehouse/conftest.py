"""A home with a real published population table (two publishes, so two snapshots) whose
values carry Rich markup, emoji codes and a terminal escape, shared by the query tests. The
second publish quarantines one row, so its gate has a failing check for `lgsp quality`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog.spec import get_spec
from expectations.gate import run_gate
from lgsp.config import Settings
from tests.conftest import write_raw_run
from tests.expectations.test_gate_population import GOOD, person
from warehouse import iceberg
from warehouse.publish import publish

MARKUP = "Ấp 3 [bold]x[/bold] :x: [red]r[/red]"
ESCAPE = "Ấp 4 \x1b[31mred\x1b[0m \u202eevil"
BAD_NAME = "[red]Nguyễn[/red] :x:"  # quarantined: outside the Vietnamese alphabet


@dataclass(frozen=True)
class Published:
    home: Path
    first_rows: int  # curated rows after the first publish
    rows: int  # curated rows now
    quarantined: int
    first_snapshot_ms: int
    raw_file: Path
    allowed: frozenset[str]  # the Parquet files of the current snapshots


@pytest.fixture(scope="session")
def published_home(tmp_path_factory: pytest.TempPathFactory) -> Published:
    home = tmp_path_factory.mktemp("published") / "home"
    spec = get_spec("population")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LGSP_HOME", str(home))
        settings = Settings.from_env()
        first = [GOOD, person(), person(), person(residence_address=MARKUP),
                 person(residence_address=ESCAPE)]
        run = write_raw_run(settings, spec, first)
        publish(spec, run, run_gate(spec, run, settings, use_gx=False), settings)
        second = [person() for _ in range(5)] + [person(full_name=BAD_NAME)]
        run = write_raw_run(settings, spec, second)
        publish(spec, run, run_gate(spec, run, settings, use_gx=False), settings)
        catalog = iceberg.load_catalog(settings)
        table = catalog.load_table(("curated", "population"))
        first_ms = table.snapshots()[0].timestamp_ms
        allowed = {iceberg.local_path(p) for ns in ("curated", "quarantine")
                   for p in iceberg.data_files(catalog.load_table((ns, "population")))}
    raw_file = next((home / "raw" / "population").rglob("*.parquet"))
    return Published(home=home, first_rows=5, rows=10, quarantined=1, first_snapshot_ms=first_ms,
                     raw_file=raw_file, allowed=frozenset(allowed))


@pytest.fixture
def published(published_home: Published, monkeypatch: pytest.MonkeyPatch) -> Published:
    monkeypatch.setenv("LGSP_HOME", str(published_home.home))
    return published_home
