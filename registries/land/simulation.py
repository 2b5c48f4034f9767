"""The simulated cadastral database for `lgsp run`: a uniquely named PostgreSQL database
loaded with the land registry of the same size and seed as the population, dropped on exit.
Yields LGSP_LAND_DSN, which both land specs read.

The database is dropped however the run ends: normally, on an exception, on Ctrl-C, or on
SIGTERM (lgsp.registries_runtime turns it into an exception while registries run), also
when it stops while the database is still loading. Only SIGKILL or a crash leaves it
behind: its name holds the process id (`lgsp_land_<pid>_<random>`), and the next
simulation drops the databases of processes that no longer run.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from registries.land.database import LandDatabase
from registries.land.generator import generate_land

DATASETS = ("land_parcels", "land_certificates")
"""The dataset specs this simulation serves (and any other spec reading EXPORTS)."""
EXPORTS = ("LGSP_LAND_DSN",)
PREFIX = "lgsp_land_"
_NAME = re.compile(rf"^{PREFIX}(\d+)_[0-9a-f]{{8}}$")
log = logging.getLogger(__name__)


def database_name(pid: int | None = None) -> str:
    return f"{PREFIX}{pid or os.getpid()}_{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


def drop_leftovers(kind: str = "postgresql") -> list[str]:
    """Drop the simulation databases of processes of this host that no longer run."""
    probe = LandDatabase("postgres" if kind == "postgresql" else "mysql", kind)
    if probe.kind == "postgresql":
        names = [r[0] for r in probe.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'lgsp\\_land\\_%'")]
    else:
        names = [r[0] for r in probe.execute("SHOW DATABASES LIKE 'lgsp\\_land\\_%'")]
    dropped = []
    for name in names:
        match = _NAME.match(name)
        if match and not _alive(int(match.group(1))):
            LandDatabase(name, kind).drop()
            log.warning("dropped %s, left behind by a land simulation that did not stop", name)
            dropped.append(name)
    return dropped


@contextmanager
def simulate(size: int, seed: int, kind: str = "postgresql") -> Iterator[dict[str, str]]:
    drop_leftovers(kind)
    db = LandDatabase(database_name(), kind)
    try:
        db.load(generate_land(size, seed))
        yield {"LGSP_LAND_DSN": db.dsn}
    finally:
        db.drop()
