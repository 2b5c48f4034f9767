"""The simulated business registration system for `lgsp run`: a drop folder holding the
initial export (as of the population's date).

The folder belongs to the home and is kept, as a real registry's export folder is:
`<LGSP_HOME>/registries/business/size<size>-seed<seed>/`. Starting the simulation again on
it (the next `lgsp run`) writes only the files missing there and never rewrites one already
dropped, so a second run finds nothing new; days added later (`drop.drop_day`) stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from registries.business.drop import initial_drop

ENV_FOLDER = "LGSP_BUSINESS_DROP_DIR"
DATASETS = ("business_registry",)
"""The dataset specs this simulation serves (and any other spec reading EXPORTS)."""
EXPORTS = (ENV_FOLDER,)


def default_folder(size: int, seed: int) -> Path:
    from lgsp.config import Settings

    return Settings.from_env().home / "registries" / "business" / f"size{size}-seed{seed}"


@contextmanager
def simulate(size: int, seed: int, folder: Path | None = None) -> Iterator[dict[str, str]]:
    folder = folder or default_folder(size, seed)
    initial_drop(folder, size=size, seed=seed)
    yield {ENV_FOLDER: str(folder)}
