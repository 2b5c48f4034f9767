"""The simulated business registration system for `lgsp run`: a drop folder with the
initial export (as of the population's date), removed again on exit."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from registries.business.drop import initial_drop

ENV_FOLDER = "LGSP_BUSINESS_DROP_DIR"
DATASETS = ("business_registry",)
"""The dataset specs this simulation serves (and any other spec reading EXPORTS)."""
EXPORTS = (ENV_FOLDER,)


@contextmanager
def simulate(size: int, seed: int) -> Iterator[dict[str, str]]:
    folder = Path(tempfile.mkdtemp(prefix="lgsp-business-drop-"))
    try:
        initial_drop(folder, size=size, seed=seed)
        yield {ENV_FOLDER: str(folder)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
