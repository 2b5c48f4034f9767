"""A real published open dataset for the open-data tests: the simulated business registry's
drop folder, run through the real pipeline (file_drop -> gate -> Iceberg publish) once per
session into its own LGSP home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog.spec import DatasetSpec
from lgsp import pipeline
from lgsp.config import Settings
from registries.business.drop import initial_drop
from tests.business.conftest import spec_for
from tests.serving import served

BUSINESS_SIZE = 12000


@dataclass
class Published:
    settings: Settings
    spec: DatasetSpec
    drop_dir: Path
    owner_ids: set[str]


@pytest.fixture(scope="session")
def business_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    root = tmp_path_factory.mktemp("opendata")
    old = os.environ.get("LGSP_HOME")
    os.environ["LGSP_HOME"] = str(root / "home")
    settings = Settings.from_env()
    drop = initial_drop(root / "drop", BUSINESS_SIZE, seed=11, as_of="2026-11-01")
    spec = spec_for(drop.files[0].parent)
    summary = pipeline.run_dataset(spec, settings, use_gx=False)
    assert not summary.blocked, summary.block_reasons
    try:
        yield Published(settings, spec, drop.files[0].parent,
                        {str(r["owner_personal_id"]) for r in drop.records if r.get("owner_personal_id")})
    finally:
        if old is None:
            os.environ.pop("LGSP_HOME", None)
        else:
            os.environ["LGSP_HOME"] = old


@dataclass
class LiveServer:
    url: str
    published: Published


@pytest.fixture(scope="session")
def live_server(business_home: Published) -> Iterator[LiveServer]:
    """`lgsp serve` in its own process (granian, 2 workers) over the published home, after
    the post-publish refresh `lgsp run` does (catalogue, exports, the indicators over it)."""


    from opendata.refresh import refresh_after_publish

    outcomes = refresh_after_publish(business_home.spec, business_home.settings)
    assert {o.status for o in outcomes} == {"exported"} and len(outcomes) > 1, outcomes  # + indicators
    with served(business_home.settings.home) as url:
        yield LiveServer(url, business_home)
