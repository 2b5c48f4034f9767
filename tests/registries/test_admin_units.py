"""The official commune lists of both eras, read from vietnamadminunits."""

from __future__ import annotations

import pytest

from registries import admin_units
from registries.population.geography import province_geography


def test_list_sizes() -> None:
    assert len(admin_units.communes("2025")) == 3321
    assert len(admin_units.communes("2004")) == 10_035  # 10,040 rows: 5 island districts
    assert len(admin_units.province_codes("2025")) == 34
    assert len(admin_units.province_codes("2004")) == 63


def test_ca_mau() -> None:
    new = admin_units.communes("2025", ["96"])
    assert len(new) == 64 and all(p == "96" and len(c) == 5 for c, _, p in new)
    assert ("31825", "Phường Bạc Liêu", "96") in new
    old = admin_units.communes("2004", ["95", "96"])
    assert {p for _, _, p in old} == {"95", "96"} and len(old) == 164
    assert admin_units.legacy_provinces_of("96") == ["95", "96"]
    assert admin_units.legacy_provinces_of("79") == ["74", "77", "79"]  # HCM + BD + BR-VT


def test_cached_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    """A repeated question (provinces in any order) reads the SQLite file once; callers get
    their own list, so changing one does not change the cache."""
    admin_units._communes.cache_clear()
    opened: list[int] = []
    connect = admin_units._connect
    monkeypatch.setattr(admin_units, "_connect", lambda: opened.append(1) or connect())
    first = admin_units.communes("2004", ["96", "95"])
    second = admin_units.communes("2004", ["95", "96"])
    assert opened == [1] and first == second and len(first) == 164
    first.clear()
    assert admin_units.communes("2004", ["95", "96"]) == second and opened == [1]
    with pytest.raises(ValueError, match="era"):
        admin_units.communes("2019")
    with pytest.raises(ValueError, match="2025 province"):
        admin_units.legacy_provinces_of("95")


def test_geography_of_ca_mau() -> None:
    geo = province_geography("96")
    assert geo.legacy_provinces == ("95", "96")
    assert len(geo.communes_2025) == 64 and len(geo.communes_2004) == 164
    assert geo.urban_2025.sum() == 9  # 9 phường, 55 xã
    assert geo.only_in_2004 and not set(geo.only_in_2004) & admin_units.commune_codes("2025")
