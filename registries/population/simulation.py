"""Start the population registry for a local platform run (found by lgsp.registries_runtime).

`simulate(size, seed)` starts `python -m registries.population` on a free port of 127.0.0.1
and yields the environment the population dataset spec reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from registries.process import RegistryProcess

EXPORTS = ("LGSP_POPULATION_URL", "LGSP_POPULATION_TOKEN")
"""The variables the population specs read (every spec reading them is served)."""


@contextmanager
def simulate(size: int, seed: int) -> Iterator[dict[str, str]]:
    """Serve a population of `size` records; yield LGSP_POPULATION_URL and _TOKEN."""
    token = os.environ.get("LGSP_POPULATION_TOKEN") or "dev-token"
    args = ["--size", str(size), "--seed", str(seed), "--token", token]
    with RegistryProcess("registries.population", args, startup_timeout=60.0 + size / 20_000) as registry:
        yield {"LGSP_POPULATION_URL": registry.base_url, "LGSP_POPULATION_TOKEN": token}
