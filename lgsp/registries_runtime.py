"""Starting the simulated registries for a local run, and pointing the specs at them.

Each simulated registry runs as its own process on 127.0.0.1; the URL it got is exported
in the environment variable its dataset spec reads (e.g. LGSP_POPULATION_URL).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatedRegistry:
    name: str
    module: str
    url_env: str
    args: tuple[str, ...] = ()


def simulated_registries(size: int, seed: int) -> list[SimulatedRegistry]:
    common = ("--size", str(size), "--seed", str(seed))
    return [
        SimulatedRegistry("population", "registries.population", "LGSP_POPULATION_URL", common),
    ]


@contextmanager
def running_registries(size: int, seed: int, only: set[str] | None = None) -> Iterator[dict[str, str]]:
    """Start the simulated registries; yield {name: base_url}; stop them on exit."""
    from registries.process import RegistryProcess

    urls: dict[str, str] = {}
    saved = {}
    with ExitStack() as stack:
        for reg in simulated_registries(size, seed):
            if only is not None and reg.name not in only:
                continue
            proc = stack.enter_context(RegistryProcess(reg.module, list(reg.args)))
            urls[reg.name] = proc.base_url
            saved[reg.url_env] = os.environ.get(reg.url_env)
            os.environ[reg.url_env] = proc.base_url
        try:
            yield urls
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
