"""The communes a simulated province's residents live in, in both code eras.

A 2025 province (e.g. Cà Mau, 96) has its 2025 communes, and the pre-2025 communes of the old
provinces that merged into it (Cà Mau 96 and Bạc Liêu 95). Records still carrying an old code
say so with the era "2004". Also listed: the codes that exist in only one era's national
list, which the `wrong_era` defect uses, and whether a commune is urban (phường, thị trấn),
which decides the style of street address.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from registries import admin_units

URBAN_PREFIXES = ("Phường", "Thị trấn")


@dataclass(frozen=True)
class ProvinceGeography:
    province_code: str
    legacy_provinces: tuple[str, ...]
    communes_2025: tuple[str, ...]
    urban_2025: np.ndarray
    communes_2004: tuple[str, ...]
    urban_2004: np.ndarray
    only_in_2004: tuple[str, ...]
    """Old codes of the province that no 2025 commune uses (anywhere in the country)."""
    only_in_2025: tuple[str, ...]
    """2025 codes of the province that were no commune's code before 2025 (may be empty)."""


def _urban(names: list[str]) -> np.ndarray:
    return np.array([name.startswith(URBAN_PREFIXES) for name in names], dtype=bool)


@lru_cache(maxsize=8)
def province_geography(province_code: str = "96") -> ProvinceGeography:
    """The communes of a 2025 province in both eras (raises ValueError for an unknown code)."""
    legacy = tuple(admin_units.legacy_provinces_of(province_code))
    new = admin_units.communes("2025", [province_code])
    old = admin_units.communes("2004", list(legacy))
    codes_2025, codes_2004 = admin_units.commune_codes("2025"), admin_units.commune_codes("2004")
    return ProvinceGeography(
        province_code=province_code,
        legacy_provinces=legacy,
        communes_2025=tuple(code for code, _, _ in new),
        urban_2025=_urban([name for _, name, _ in new]),
        communes_2004=tuple(code for code, _, _ in old),
        urban_2004=_urban([name for _, name, _ in old]),
        only_in_2004=tuple(code for code, _, _ in old if code not in codes_2025),
        only_in_2025=tuple(code for code, _, _ in new if code not in codes_2004),
    )
