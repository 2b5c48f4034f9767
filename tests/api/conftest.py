"""Fixtures for the agency API: an isolated LGSP home (its own SQLite control database and
keys) and a session factory on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from sqlalchemy.orm import Session

from control import db
from lgsp.config import Settings

ACTOR = "cli:test"


@pytest.fixture
def session_factory(settings: Settings) -> Iterator[Callable[[], AbstractContextManager[Session]]]:
    yield lambda: db.session(settings)
    eng = db._engines.pop(settings.control_db_uri, None)
    if eng is not None:
        eng.dispose()


from tests.api.live import api, business_home  # noqa: E402,F401 - the live-server fixtures
