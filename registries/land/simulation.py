"""The simulated cadastral database for `lgsp run`: a uniquely named PostgreSQL database
loaded with the land registry of the same size and seed as the population, dropped on exit.
Yields LGSP_LAND_DSN, which both land specs read."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from registries.land.database import LandDatabase
from registries.land.generator import generate_land

DATASETS = ("land_parcels", "land_certificates")
"""The dataset specs this simulation serves."""


@contextmanager
def simulate(size: int, seed: int, kind: str = "postgresql") -> Iterator[dict[str, str]]:
    db = LandDatabase(f"lgsp_land_{os.getpid()}_{uuid.uuid4().hex[:8]}", kind)
    db.load(generate_land(size, seed))
    try:
        yield {"LGSP_LAND_DSN": db.dsn}
    finally:
        db.drop()
