"""A real cadastral database per test, on the local PostgreSQL or MariaDB server, loaded
with the seeded land registry; the land specs pointed at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from catalog.spec import DatasetSpec, get_spec
from registries.land.database import LandDatabase
from registries.land.generator import LandData, generate_land

SIZE = 1200
SEED = 5
LOADED = datetime(2026, 11, 2, tzinfo=UTC)
"""After every generated change (the registry's data is as of 2026-11-01)."""


@pytest.fixture(scope="session")
def land_data() -> LandData:
    return generate_land(SIZE, SEED)


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, land_data: LandData) -> Iterator[LandDatabase]:
    database = LandDatabase(f"lgsp_land_test_{uuid.uuid4().hex[:10]}", request.param)
    database.load(land_data)
    yield database
    database.drop()


@pytest.fixture
def pg(land_data: LandData) -> Iterator[LandDatabase]:
    database = LandDatabase(f"lgsp_land_test_{uuid.uuid4().hex[:10]}", "postgresql")
    database.load(land_data)
    yield database
    database.drop()


def spec_for(dataset: str, db: LandDatabase, **params: Any) -> DatasetSpec:
    spec = get_spec(dataset)
    merged = {**spec.source.params, "dsn": db.dsn, **params}
    return spec.model_copy(update={"source": spec.source.model_copy(update={"params": merged})})
