"""A PostgreSQL 15 instance of the tests' own with wal_level = logical
(registries/land/logical_server.py); the shared server on 5432 is never touched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registries.land import logical_server as server
from tests.land.conftest import land_data  # noqa: F401 - the seeded land registry fixture


@pytest.fixture(scope="session")
def logical_server() -> Iterator[str]:
    """postgresql://postgres@127.0.0.1:<port> of a fresh wal_level=logical instance."""
    if not server.available():
        pytest.skip("PostgreSQL 15 server binaries (and runuser) are not installed")
    with server.logical_server() as url:
        yield url
