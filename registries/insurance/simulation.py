"""Start the simulated insurance web service for `lgsp run` and point its spec at it.

`simulate(size, seed)` runs `python -m registries.insurance` on a free 127.0.0.1 port with
the same population size and seed as the population registry, waits for /health, yields the
environment variables catalog/datasets/insurance_members.yaml reads, and stops the service
on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from registries.insurance.__main__ import DEFAULT_PASSWORD, DEFAULT_USERNAME
from registries.process import RegistryProcess

DATASETS = ("insurance_members",)
"""The dataset specs this simulation serves (and any other spec reading EXPORTS)."""
EXPORTS = ("LGSP_INSURANCE_URL", "LGSP_INSURANCE_USER", "LGSP_INSURANCE_PASSWORD")


@contextmanager
def simulate(size: int, seed: int) -> Iterator[dict[str, str]]:
    args = ["--size", str(size), "--seed", str(seed),
            "--username", DEFAULT_USERNAME, "--password", DEFAULT_PASSWORD]
    with RegistryProcess("registries.insurance", args) as proc:
        yield {
            "LGSP_INSURANCE_URL": proc.base_url,
            "LGSP_INSURANCE_USER": DEFAULT_USERNAME,
            "LGSP_INSURANCE_PASSWORD": DEFAULT_PASSWORD,
        }
