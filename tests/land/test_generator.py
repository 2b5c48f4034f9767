"""The seeded cadastral registry: deterministic, half as many parcels as people, holders drawn
from the population and business registries of the same size and seed, every defect kind
seeded, code lists and commune eras tagged; and the loader's server URL."""

from __future__ import annotations

import re
import unicodedata

import pytest

from registries.admin_units import communes, legacy_provinces_of
from registries.land.database import LandDatabase
from registries.land.generator import DEFECTS, generate_land, registry_holders
from tests.land.conftest import SEED, SIZE
from tests.land.land_use_codes import CODES


def test_deterministic_and_sized_on_the_population(land_data):
    again = generate_land(SIZE, SEED)
    assert again.parcels == land_data.parcels and again.certificates == land_data.certificates
    assert len(land_data.parcels) == SIZE // 2
    assert generate_land(SIZE, SEED + 1).parcels != land_data.parcels


def test_every_defect_kind_is_seeded(land_data):
    assert set(land_data.defects.values()) == set(DEFECTS)


def test_clean_records_follow_the_domain(land_data):
    current = {c for c, _, _ in communes("2025", ["96"])}
    legacy = {c for c, _, _ in communes("2004", legacy_provinces_of("96"))}
    defective = {k.split(":", 1)[1] for k in land_data.defects}
    for p in land_data.parcels:
        if p["parcel_id"] in defective:
            continue
        assert p["parcel_id"] == f"{p['commune_code']}-{p['map_sheet']}-{p['parcel_number']}"
        assert p["land_use_code"] in CODES[str(p["land_use_code_list"])]
        assert p["area_m2"] > 0
        assert p["commune_code"] in (current if p["commune_code_era"] == "2025" else legacy)
        assert p["legacy_commune_code"] == (p["commune_code"] if p["commune_code_era"] == "2004" else None)
    assert {p["land_use_code_list"] for p in land_data.parcels} == {"2018", "2024"}
    for c in land_data.certificates:
        if c["certificate_serial"] not in defective:
            assert re.fullmatch(r"[A-Z]{2}[0-9]{8}", str(c["certificate_serial"]))
            assert c["issue_date"] <= land_data.as_of
            assert unicodedata.is_normalized("NFC", str(c["holder_name"]))


def test_holders_come_from_the_other_registries(land_data):
    holders = registry_holders(SIZE, SEED, "2026-11-01")
    unknown = {k.split(":", 1)[1] for k, v in land_data.defects.items() if v == "unknown_holder"}
    people = {c["holder_id"] for c in land_data.certificates if c["holder_type"] == "person"
              and c["certificate_serial"] not in unknown and len(str(c["holder_id"])) == 12}
    firms = {c["holder_id"] for c in land_data.certificates if c["holder_type"] == "enterprise"}
    assert people and people <= holders.all_people
    assert firms and firms <= holders.all_enterprises
    named = dict(holders.people)
    assert all(named[c["holder_id"]] == unicodedata.normalize("NFC", str(c["holder_name"]))
               for c in land_data.certificates if c["holder_id"] in people)
    assert unknown and not unknown & {c["certificate_serial"] for c in land_data.certificates
                                      if c["holder_id"] in holders.all_people}


def test_loader_takes_a_server_url_and_a_database_name():
    pg = LandDatabase("cadastre", server="postgresql://land:secret@db.example:5433/ignored")
    assert (pg.kind, pg.dsn) == ("postgresql", "postgresql://land:secret@db.example:5433/cadastre")
    maria = LandDatabase("cadastre", server="mysql+pymysql://root@127.0.0.1:3306")
    assert (maria.kind, maria.dsn) == ("mariadb", "mysql+pymysql://root@127.0.0.1:3306/cadastre")
    assert LandDatabase("x", "mariadb").dsn == "mysql+pymysql://root@127.0.0.1:3306/x"
    with pytest.raises(ValueError, match="unsupported database server 'sqlite://'"):
        LandDatabase("x", server="sqlite://")
