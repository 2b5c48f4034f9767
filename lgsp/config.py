"""Where the platform keeps its files, from one explicit place.

Everything lives under one home folder (LGSP_HOME, default ./var): the raw zone, the
Iceberg warehouse and its SQLite catalog, watermarks, quality results, reference data and
Airflow's home. `Settings.from_env()` is the only place that reads the environment for paths.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Settings:
    """Where everything lives. Frozen; the derived paths and URIs are computed once per
    instance (cached_property writes past the frozen __setattr__), since request handlers
    read them on every request."""
    home: Path
    specs_dir: Path
    catalog_uri: str | None = None
    """SQLAlchemy URI of the Iceberg SQL catalog; default: SQLite file under home."""
    run_lock_wait: float = 0.0
    """Seconds a run waits for another run of the same dataset to finish (LGSP_RUN_LOCK_WAIT);
    0: exit at once naming the holder."""
    run_lock_ttl: float = 120.0
    """Seconds a run's lock lease lasts unless renewed (LGSP_RUN_LOCK_TTL): how long a run
    killed on another host can block the dataset (warehouse/run_lock.py)."""
    control_uri: str | None = None
    """SQLAlchemy URI of the control database (catalogue, clients, grants, audit);
    default: SQLite file under home (LGSP_CONTROL_DB_URI for PostgreSQL)."""
    api_store_uri: str | None = None
    """PostgreSQL URI (LGSP_API_STORE_URI) whose `serving.<dataset>` tables the agency API's
    lookups and pages answer from instead of its SQLite serving copies (api/pg_copy.py)."""

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("LGSP_HOME", PROJECT_ROOT / "var")).resolve()
        specs = Path(os.environ.get("LGSP_SPECS_DIR", PROJECT_ROOT / "catalog" / "datasets"))
        return cls(
            home=home,
            specs_dir=specs.resolve(),
            catalog_uri=os.environ.get("LGSP_CATALOG_URI") or None,
            run_lock_wait=_seconds("LGSP_RUN_LOCK_WAIT", 0.0),
            run_lock_ttl=_seconds("LGSP_RUN_LOCK_TTL", 120.0),
            control_uri=os.environ.get("LGSP_CONTROL_DB_URI") or None,
            api_store_uri=os.environ.get("LGSP_API_STORE_URI") or None,
        )

    @cached_property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @cached_property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    @cached_property
    def state_dir(self) -> Path:
        return self.home / "state"

    @cached_property
    def quality_dir(self) -> Path:
        return self.home / "quality"

    @cached_property
    def reference_dir(self) -> Path:
        return self.home / "reference"

    @cached_property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @cached_property
    def duckdb_temp_dir(self) -> Path:
        """Where DuckDB spills joins, sorts and windows beyond its memory limit."""
        return self.home / "tmp" / "duckdb"

    @cached_property
    def control_db_uri(self) -> str:
        return self.control_uri or f"sqlite:///{self.home / 'control.db'}"

    @cached_property
    def opendata_dir(self) -> Path:
        """Open-data export files, per dataset and snapshot."""
        return self.home / "opendata"

    @cached_property
    def iceberg_catalog_uri(self) -> str:
        return self.catalog_uri or f"sqlite:///{self.warehouse_dir / 'catalog.db'}"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ValueError(f"environment variable {name}={raw!r} must not be negative")
    return value


def expand_env(value: object) -> object:
    """Expand ${NAME} and ${NAME:-default} in spec parameters (strings, lists, dicts)."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found is None:
                if default is None:
                    raise KeyError(f"environment variable {name} is not set and has no default")
                return default
            return found

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value
