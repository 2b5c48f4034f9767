"""Starting the simulated registries for a local run, and pointing the specs at them.

Each simulated registry is a package registries/<name>/ with a `simulation` module that
defines `simulate(size: int, seed: int) -> ContextManager[dict[str, str]]`: it starts the
registry (an HTTP service, a seeded database, a file-drop folder...) and yields the
environment variables its dataset specs read (e.g. LGSP_POPULATION_URL), and may list the
dataset ids it serves in `DATASETS` (default: the package name). They are found by name, so a
new registry is a new folder, not an edit here.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager


def simulation_names() -> list[str]:
    import registries

    return sorted(
        info.name for info in pkgutil.iter_modules(registries.__path__)
        if info.ispkg and importlib.util.find_spec(f"registries.{info.name}.simulation")
    )


def served_datasets(name: str) -> set[str]:
    module = importlib.import_module(f"registries.{name}.simulation")
    return set(getattr(module, "DATASETS", (name,)))


@contextmanager
def running_registries(size: int, seed: int, datasets: set[str] | None = None,
                       ) -> Iterator[dict[str, str]]:
    """Start the simulated registries (those serving one of `datasets`, default all); yield
    the environment they export; stop on exit."""
    exported: dict[str, str] = {}
    saved: dict[str, str | None] = {}
    with ExitStack() as stack:
        for name in simulation_names():
            if datasets is not None and not served_datasets(name) & datasets:
                continue
            module = importlib.import_module(f"registries.{name}.simulation")
            env = stack.enter_context(module.simulate(size=size, seed=seed))
            for key, value in env.items():
                saved.setdefault(key, os.environ.get(key))
                os.environ[key] = value
            exported.update(env)
        try:
            yield exported
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
