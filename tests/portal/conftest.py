"""A published home for the portal tests: the simulated business registry (an open dataset,
with its indicator) and a small population (personal data: IDs and names of people) run
through the real pipeline (gate -> Iceberg publish), then the post-publish refresh `lgsp run`
does (catalogue, exports) and the catalogue of every spec, as `lgsp serve` prepares it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from catalog.spec import DatasetSpec, get_spec
from lgsp import pipeline
from lgsp.config import Settings
from registries.business.drop import initial_drop
from registries.population.generator import generate_population
from tests.business.conftest import spec_for
from tests.conftest import write_raw_run
from tests.serving import served

BUSINESS_SIZE = 3000
POPULATION_SIZE = 800


@dataclass
class PortalHome:
    settings: Settings
    business: DatasetSpec
    population: DatasetSpec
    gaps: DatasetSpec


def gap_rows(settings: Settings) -> list[dict[str, str | None]]:
    """Gaps as the linking SQL shapes them, from the published registries (the fixture has no
    insurance registry to link with): every active enterprise as one without insured staff
    (they are spread thin over communes: all below the suppression threshold), plus 6-9 more
    enterprises in each of three communes so some counts are published; every living child
    under 6 as one without a card."""
    from warehouse import iceberg

    catalog = iceberg.load_catalog(settings)
    rows: list[dict[str, str | None]] = []
    firms = catalog.load_table((iceberg.CURATED, "business_registry")).scan().to_arrow().to_pylist()
    active = sorted((b for b in firms if b["status_code"] == "00" and "-" not in b["enterprise_code"]),
                    key=lambda b: b["enterprise_code"])
    extra = [{"enterprise_code": f"99000{i:05d}", "name": f"Công ty TNHH Thử nghiệm {i}",
              "commune_code": commune, "commune_code_era": "2025"}
             for n, commune in enumerate(("32161", "32188", "32134"))
             for i in range(n * 100, n * 100 + 6 + n * 1 + (n == 2) * 1)]
    for b in active + extra:
        rows.append({"gap_id": f"business_without_insured_employees:{b['enterprise_code']}",
                     "gap_type": "business_without_insured_employees",
                     "subject_id": b["enterprise_code"], "subject_name": b["name"],
                     "commune_code": b["commune_code"], "commune_code_era": b["commune_code_era"],
                     "responsible_agency": "Bảo hiểm xã hội tỉnh", "detail": "không có lao động",
                     "detected_on": "2026-11-01"})
    people = catalog.load_table((iceberg.CURATED, "population")).scan().to_arrow().to_pylist()
    for p in people:
        born = p["date_of_birth"]
        if p["status"] == "Còn sống" and born is not None and born.year >= 2021:
            rows.append({"gap_id": f"child_under_6_without_health_card:{p['personal_id']}",
                         "gap_type": "child_under_6_without_health_card",
                         "subject_id": p["personal_id"], "subject_name": p["full_name"],
                         "commune_code": p["residence_commune_code"],
                         "commune_code_era": p["residence_code_era"],
                         "responsible_agency": "Bảo hiểm xã hội tỉnh", "detail": None,
                         "detected_on": "2026-11-01"})
    return rows


@pytest.fixture(scope="session")
def portal_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalHome]:
    from opendata.refresh import refresh_after_publish
    from server.run import prepare

    root = tmp_path_factory.mktemp("portal")
    old = os.environ.get("LGSP_HOME")
    os.environ["LGSP_HOME"] = str(root / "home")
    settings = Settings.from_env()
    try:
        drop = initial_drop(root / "drop", BUSINESS_SIZE, seed=7, as_of="2026-11-01")
        business = spec_for(drop.files[0].parent)
        summary = pipeline.run_dataset(business, settings, use_gx=False)
        assert not summary.blocked, summary.block_reasons
        population = get_spec("population")
        table = generate_population(POPULATION_SIZE, seed=5).drop_columns(["_defect", "_seq"])
        rows = [{k: None if v is None else str(v) for k, v in r.items()} for r in table.to_pylist()]
        run = write_raw_run(settings, population, rows)
        gate = pipeline.validate(population, run.path, settings, use_gx=False)
        assert not gate.blocked, gate.block_reasons
        pipeline.publish_run(population, run.path, settings)
        gaps = get_spec("gaps")
        run = write_raw_run(settings, gaps, gap_rows(settings))
        gate = pipeline.validate(gaps, run.path, settings, use_gx=False)
        assert not gate.blocked, gate.block_reasons
        pipeline.publish_run(gaps, run.path, settings)
        prepare(settings)  # the catalogue of every spec (as `lgsp serve` does)
        for spec in (business, population, gaps):
            refresh_after_publish(spec, settings)
        yield PortalHome(settings, business, population, gaps)
    finally:
        if old is None:
            os.environ.pop("LGSP_HOME", None)
        else:
            os.environ["LGSP_HOME"] = old


@pytest.fixture(scope="session")
def client(portal_home: PortalHome) -> Iterator[TestClient]:
    from server.app import create_app

    with TestClient(create_app(portal_home.settings)) as c:
        yield c


@dataclass
class LiveServer:
    url: str
    home: PortalHome


@pytest.fixture(scope="session")
def live_portal(portal_home: PortalHome) -> Iterator[LiveServer]:
    """`lgsp serve` in its own process (granian, 2 workers) over the published home."""


    with served(portal_home.settings.home) as url:
        yield LiveServer(url, portal_home)


ARTEFACTS = Path(os.environ.get("LGSP_TEST_ARTEFACTS", Path(__file__).resolve().parents[2] / "var" /
                                "test-artefacts")) / "portal"
