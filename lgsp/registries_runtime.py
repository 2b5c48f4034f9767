"""Starting the simulated registries for a local run, and pointing the specs at them.

Each simulated registry is a package registries/<name>/ with a `simulation` module that
defines `simulate(size: int, seed: int) -> ContextManager[dict[str, str]]`: it starts the
registry (an HTTP service, a seeded database, a file-drop folder...) and yields the
environment variables its dataset specs read (e.g. LGSP_POPULATION_URL), listed in
`EXPORTS`. A registry serves the datasets whose spec reads one of those variables
(`${LGSP_POPULATION_URL:-...}` in source.params), so a second spec over the same source
(e.g. population_basic) starts the same simulation; `DATASETS` may name more. They are
found by name, so a new registry is a new folder, not an edit here.

While the registries run, SIGTERM unwinds like Ctrl-C, so each simulation's cleanup runs
(the land simulation drops its database) when a run is stopped.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from lgsp.config import _ENV_REF


def simulation_names() -> list[str]:
    import registries

    return sorted(
        info.name for info in pkgutil.iter_modules(registries.__path__)
        if info.ispkg and importlib.util.find_spec(f"registries.{info.name}.simulation")
    )


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"registries.{name}.simulation")


def env_references(value: Any) -> set[str]:
    """Environment variables a spec's source parameters read (${NAME} or ${NAME:-default})."""
    if isinstance(value, str):
        return {m.group(1) for m in _ENV_REF.finditer(value)}
    if isinstance(value, dict):
        return set().union(*(env_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(env_references(v) for v in value)) if value else set()
    return set()


def served_datasets(name: str, specs_dir: Path | None = None) -> set[str]:
    """The datasets a simulation serves: those whose spec reads a variable it exports,
    and those it names in DATASETS (default: the package name)."""
    from catalog.spec import load_catalog
    from lgsp.config import Settings

    module = _module(name)
    served = set(getattr(module, "DATASETS", (name,)))
    exports = set(getattr(module, "EXPORTS", ()))
    if exports:
        catalog = load_catalog(specs_dir or Settings.from_env().specs_dir)
        served |= {s.id for s in catalog.specs if env_references(s.source.params) & exports}
    return served


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """In the main thread, SIGTERM raises SystemExit (as Ctrl-C raises KeyboardInterrupt),
    so `finally` blocks and context exits run; the previous handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def running_registries(size: int, seed: int, datasets: set[str] | None = None,
                       specs_dir: Path | None = None) -> Iterator[dict[str, str]]:
    """Start the simulated registries (those serving one of `datasets`, default all); yield
    the environment they export; stop on exit, also on SIGTERM."""
    exported: dict[str, str] = {}
    saved: dict[str, str | None] = {}
    with _sigterm_unwinds(), ExitStack() as stack:
        for name in simulation_names():
            if datasets is not None and not served_datasets(name, specs_dir) & datasets:
                continue
            env = stack.enter_context(_module(name).simulate(size=size, seed=seed))
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
