"""Shared fixtures for the registry tests: a small generated population and its parameters."""

from __future__ import annotations

import pyarrow as pa
import pytest

from registries.population.generator import generate_population

SIZE = 2000
SEED = 11
AS_OF = "2026-11-01"
TOKEN = "registry-test-token"


@pytest.fixture(scope="session")
def population() -> pa.Table:
    return generate_population(SIZE, SEED, as_of=AS_OF)


@pytest.fixture(scope="session")
def population_20k() -> pa.Table:
    return generate_population(20_000, 5, as_of=AS_OF)
