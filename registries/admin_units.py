"""Official commune lists of both eras, read from the `vietnamadminunits` package (MIT).

The package ships an SQLite file with:
- `admin_units`: the 2025 list (Decision 19/2025/QĐ-TTg, in force from 2025-07-01): 34
  provinces, 3,321 communes (xã, phường, đặc khu), no district level.
- `admin_units_legacy`: the list in force until 2025-07-01 (Decision 124/2004/QĐ-TTg and its
  amendments): 63 provinces, ~10,040 communes under districts.

This module owns reading those lists for the simulated registries: commune codes and names
per era, and which pre-2025 provinces merged into a 2025 province. Results are cached.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Literal

Era = Literal["2025", "2004"]
ERAS: tuple[str, ...] = ("2025", "2004")
_TABLES = {"2025": "admin_units", "2004": "admin_units_legacy"}


def _data_dir() -> Path:
    # Locate the package without importing it (its import loads far more than the data).
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or spec.origin is None:
        raise RuntimeError("the vietnamadminunits package is not installed")
    return Path(os.path.dirname(spec.origin)) / "data"


def _connect() -> sqlite3.Connection:
    return sqlite3.connect(f"file:{_data_dir() / 'dataset.db'}?mode=ro", uri=True)


def communes(era: str, province_codes: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(commune code, commune name, province code) of one era's official list, by code.

    era: "2025" (Decision 19/2025/QĐ-TTg) or "2004" (the pre-2025-07-01 list).
    province_codes: province codes of that same era to keep; None keeps the whole country.
    """
    return list(_communes(era, None if province_codes is None else tuple(sorted(province_codes))))


@lru_cache(maxsize=64)
def _communes(era: str, province_codes: tuple[str, ...] | None) -> tuple[tuple[str, str, str], ...]:
    if era not in _TABLES:
        raise ValueError(f"era must be one of {ERAS}, got {era!r}")
    sql = f"SELECT wardCode, ward, provinceCode FROM {_TABLES[era]}"
    params: tuple[str, ...] = ()
    if province_codes is not None:
        sql += f" WHERE provinceCode IN ({', '.join('?' * len(province_codes))})"
        params = province_codes
    with _connect() as con:
        rows = con.execute(sql, params).fetchall()
    seen: dict[str, tuple[str, str, str]] = {}
    for code, name, province in rows:
        # The legacy table lists a few communes twice, and island districts without
        # communes (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo) with no commune code.
        if code is not None:
            seen.setdefault(code, (code, name, province))
    return tuple(sorted(seen.values()))


@lru_cache(maxsize=2)
def commune_codes(era: str) -> frozenset[str]:
    """Every commune code of one era's list (the whole country)."""
    return frozenset(code for code, _, _ in _communes(era, None))


@lru_cache(maxsize=1)
def province_codes(era: str) -> tuple[str, ...]:
    """The province codes of one era's list (63 before 2025, 34 from 2025-07-01)."""
    return tuple(sorted({province for _, _, province in _communes(era, None)}))


@lru_cache(maxsize=64)
def _legacy_provinces_of(province_code: str) -> tuple[str, ...]:
    with _connect() as con:
        new_keys = dict(con.execute("SELECT DISTINCT provinceCode, provinceKey FROM admin_units").fetchall())
        old_codes = dict(
            con.execute("SELECT DISTINCT provinceKey, provinceCode FROM admin_units_legacy").fetchall()
        )
    if province_code not in new_keys:
        raise ValueError(f"{province_code!r} is not a 2025 province code")
    with open(_data_dir() / "converter_2025.json", encoding="utf-8") as fh:
        merged = json.load(fh)["DICT_PROVINCE"]
    return tuple(sorted(old_codes[key] for key in merged[new_keys[province_code]]))


def legacy_provinces_of(province_code: str) -> list[str]:
    """Codes of the pre-2025 provinces that merged into a 2025 province (96 -> 95, 96)."""
    return list(_legacy_provinces_of(province_code))
