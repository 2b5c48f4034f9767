"""Reference data the rules check against, built offline from shipped packages.

- Commune codes of both eras from `vietnamadminunits` (its bundled SQLite file): the 2025
  list (Decision 19/2025/QĐ-TTg, 3,321 communes) and the 2004 list in force until
  2025-07-01 (Decision 124/2004/QĐ-TTg, ~10,040 communes), written once to Parquet.
- Province prefixes of the personal ID: "0" + the 63 pre-2025 province codes, and the
  country codes 101-295 for births registered abroad (the exact country list is unverified,
  so the whole documented range is accepted; see DOMAIN.md).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ERAS = ("2025", "2004")
COMMUNES_FILE = "communes.parquet"


def _dataset_db() -> Path:
    """The package's bundled SQLite file, found without importing the package (its import
    loads parsers and geopy: ~0.6 s the gate does not need)."""
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("vietnamadminunits is not installed: the reference data comes from it")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "dataset.db"


@lru_cache(maxsize=1)
def communes_table() -> pa.Table:
    with sqlite3.connect(f"file:{_dataset_db()}?mode=ro", uri=True) as con:
        new = con.execute("SELECT wardCode, ward, provinceCode FROM admin_units").fetchall()
        old = con.execute(
            "SELECT wardCode, ward, provinceCode FROM admin_units_legacy"
        ).fetchall()
    rows = [("2025", *r) for r in new if r[0]] + [("2004", *r) for r in old if r[0]]
    return pa.table(
        {
            "ref_era": [r[0] for r in rows],
            "ref_code": [r[1] for r in rows],
            "ref_name": [r[2] for r in rows],
            "ref_province_code": [r[3] for r in rows],
        }
    )


@lru_cache(maxsize=1)
def legacy_province_codes() -> tuple[str, ...]:
    with sqlite3.connect(f"file:{_dataset_db()}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT DISTINCT provinceCode FROM admin_units_legacy").fetchall()
    return tuple(sorted(r[0] for r in rows))


def personal_id_prefixes() -> tuple[str, ...]:
    domestic = tuple("0" + code for code in legacy_province_codes())
    abroad = tuple(str(n) for n in range(101, 296))
    return domestic + abroad


def ensure_reference(directory: Path) -> Path:
    """Write the commune reference Parquet if missing; return its path."""
    path = directory / COMMUNES_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(communes_table(), tmp)
        os.replace(tmp, path)
    return path
