"""Seeded cadastral data: parcels and land-use certificates of one province (Cà Mau, 96).

A parcel is commune + map sheet + parcel number (DOMAIN.md); its commune code is tagged with
its era ("2025" codes of Decision 19/2025, or "2004" codes of parcels not yet migrated, whose
`legacy_commune_code` is the same), and its land-use code with the version of the code list
(Circular 08/2024, or 27/2018 for older records). About 85 % of parcels have a certificate
(serial: 2 letters + 8 digits) held by a person of the population generated with the same
size and seed (clean, living adults, same name) or by an enterprise of the business
registry of the same size and seed, so cross-registry checks find them.

Defects, each kind seeded at least once (`defects` maps the record key to its kind):
  quarantined: area_not_positive, code_wrong_version, unknown_code, wrong_era_commune,
               parcel_id_mismatch, serial_bad_format, holder_id_bad_format, issue_date_future,
               holder_name_nfd (curated: NFC-normalised)
  reported:    unknown_holder (a holder absent from the population / business registry)
`synthetic_holders=True` skips the other generators (for the 1M-parcel benchmark).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from registries.admin_units import communes, legacy_provinces_of

PROVINCE = "96"
PARCEL_COLUMNS = ("parcel_id", "commune_code", "commune_code_era", "legacy_commune_code",
                  "map_sheet", "parcel_number", "area_m2", "land_use_code", "land_use_code_list",
                  "address", "updated_at")
CERTIFICATE_COLUMNS = ("certificate_serial", "parcel_id", "issue_date", "holder_type",
                       "holder_id", "holder_name", "updated_at")
CERTIFIED_SHARE = 0.85
ENTERPRISE_HOLDER_SHARE = 0.08
LEGACY_SHARE = 0.3
OLD_LIST_SHARE = 0.25
USE_WEIGHTS = {"ONT": 30, "LUC": 18, "CLN": 12, "NTS": 16, "ODT": 8, "HNK": 5, "RSX": 3,
               "TMD": 2, "SKC": 1, "DGT": 2, "BCS": 1, "NKH": 2}
"""Land-use mix of a Mekong delta province: rural housing, rice, aquaculture, orchards."""
OLD_ONLY = {"HNK": "BHK", "CNT": "NKH"}  # 2024 code -> a 2018-era code for the same land
SERIAL_LETTERS = ("CS", "CH", "CT", "BA", "BB", "BC", "DA", "DB", "DC")
QUARANTINED = frozenset({"area_not_positive", "code_wrong_version", "unknown_code",
                         "wrong_era_commune", "parcel_id_mismatch", "serial_bad_format",
                         "holder_id_bad_format", "issue_date_future"})
DEFECTS = (*sorted(QUARANTINED), "holder_name_nfd", "unknown_holder")


@dataclass
class LandData:
    parcels: list[dict[str, object]]
    certificates: list[dict[str, object]]
    defects: dict[str, str] = field(default_factory=dict)
    """'parcel:<id>' or 'certificate:<serial>' -> the defect kind seeded in that record."""
    as_of: date = date(2026, 11, 1)


@dataclass(frozen=True)
class Holders:
    people: tuple[tuple[str, str], ...]
    """(personal ID, full name) of clean living adults."""
    enterprises: tuple[tuple[str, str], ...]
    """(enterprise code, name) of clean enterprises."""
    all_people: frozenset[str]
    all_enterprises: frozenset[str]


@lru_cache(maxsize=4)
def registry_holders(size: int, seed: int, as_of: str) -> Holders:
    """Holders from the population and business generators of the same size and seed."""
    from registries.business.generator import generate_business
    from registries.population.generator import generate_population

    table = generate_population(size, seed, as_of=as_of)
    cutoff = (date.fromisoformat(as_of) - timedelta(days=18 * 366)).isoformat()
    people = tuple(
        (r["personal_id"], r["full_name"]) for r in table.select(
            ["personal_id", "full_name", "date_of_birth", "status", "_defect"]).to_pylist()
        if r["_defect"] is None and r["status"] == "Còn sống" and r["date_of_birth"]
        and r["date_of_birth"] <= cutoff and r["full_name"])
    records = generate_business(size, seed, as_of)
    firms = tuple((r["enterprise_code"], r["name"]) for r in records
                  if r.get("_defect") is None and "-" not in str(r["enterprise_code"]))
    return Holders(people=people, enterprises=firms,
                   all_people=frozenset(table.column("personal_id").to_pylist()),
                   all_enterprises=frozenset(str(r["enterprise_code"]) for r in records))


def synthetic_holders(rng: random.Random, count: int) -> Holders:
    people = tuple((f"096{rng.randrange(10**9):09d}", "Nguyễn Văn An") for _ in range(count))
    firms = tuple((f"20{rng.randrange(10**8):08d}", "Công ty TNHH Minh Phát")
                  for _ in range(max(1, count // 50)))
    return Holders(people, firms, frozenset(p for p, _ in people), frozenset(f for f, _ in firms))


def parcel_count(size: int) -> int:
    return max(60, size // 2)


def _timestamp(rng: random.Random, as_of: date, days: int = 730) -> datetime:
    start = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC) - timedelta(days=days)
    return start + timedelta(seconds=rng.randrange(days * 86400))


def _serial(rng: random.Random, used: set[str]) -> str:
    while True:
        serial = f"{rng.choice(SERIAL_LETTERS)}{rng.randrange(10**8):08d}"
        if serial not in used:
            used.add(serial)
            return serial


def parcel_id(commune: str, sheet: int, number: int) -> str:
    return f"{commune}-{sheet}-{number}"


def generate_land(size: int, seed: int = 42, as_of: str = "2026-11-01", defect_rate: float = 0.03,
                  synthetic: bool = False) -> LandData:
    """The cadastral registry on `as_of` for a population of `size`; deterministic."""
    rng = random.Random(f"land:{size}:{seed}:{as_of}")
    day = date.fromisoformat(as_of)
    n = parcel_count(size)
    holders = synthetic_holders(rng, max(100, n // 3)) if synthetic else registry_holders(size, seed, as_of)
    current = communes("2025", [PROVINCE])
    legacy = communes("2004", legacy_provinces_of(PROVINCE))
    uses, weights = list(USE_WEIGHTS), list(USE_WEIGHTS.values())
    sheets: dict[str, int] = {}
    parcels: list[dict[str, object]] = []
    certificates: list[dict[str, object]] = []
    used: set[str] = set()
    for _ in range(n):
        era = "2004" if rng.random() < LEGACY_SHARE else "2025"
        code, name, _province = rng.choice(legacy if era == "2004" else current)
        sheet = rng.randrange(1, 60)
        sheets[code] = sheets.get(code, 0) + 1
        number = sheets[code]
        use = rng.choices(uses, weights)[0]
        version = "2024"
        if rng.random() < OLD_LIST_SHARE:
            version, use = "2018", OLD_ONLY.get(use, use)
        area = round(rng.lognormvariate(6.2 if use in ("ONT", "ODT") else 7.5, 0.7), 1)
        parcels.append({
            "parcel_id": parcel_id(code, sheet, number), "commune_code": code,
            "commune_code_era": era, "legacy_commune_code": code if era == "2004" else None,
            "map_sheet": sheet, "parcel_number": number, "area_m2": area,
            "land_use_code": use, "land_use_code_list": version,
            "address": f"Tờ {sheet}, thửa {number}, {name}",
            "updated_at": _timestamp(rng, day),
        })
        if rng.random() < CERTIFIED_SHARE:
            firm = rng.random() < ENTERPRISE_HOLDER_SHARE and holders.enterprises
            holder_id, holder_name = rng.choice(holders.enterprises if firm else holders.people)
            issued = day - timedelta(days=rng.randrange(30, 30 * 365))
            certificates.append({
                "certificate_serial": _serial(rng, used), "parcel_id": parcels[-1]["parcel_id"],
                "issue_date": issued, "holder_type": "enterprise" if firm else "person",
                "holder_id": holder_id, "holder_name": holder_name,
                "updated_at": _timestamp(rng, day),
            })
    data = LandData(parcels=parcels, certificates=certificates, as_of=day)
    _inject(rng, data, holders, defect_rate)
    return data


def _inject(rng: random.Random, data: LandData, holders: Holders, rate: float) -> None:
    parcel_kinds = ("area_not_positive", "code_wrong_version", "unknown_code", "wrong_era_commune",
                    "parcel_id_mismatch")
    cert_kinds = ("serial_bad_format", "holder_id_bad_format", "issue_date_future",
                  "holder_name_nfd", "unknown_holder")
    legacy_codes = [c for c, _, _ in communes("2004", legacy_provinces_of(PROVINCE))]
    current = {c for c, _, _ in communes("2025", [PROVINCE])}
    only_legacy = [c for c in legacy_codes if c not in current]
    n_parcels = max(len(parcel_kinds), int(len(data.parcels) * rate))
    for i, index in enumerate(rng.sample(range(len(data.parcels)), n_parcels)):
        kind = parcel_kinds[i % len(parcel_kinds)]
        p = data.parcels[index]
        if kind == "area_not_positive":
            p["area_m2"] = rng.choice([0.0, -p["area_m2"]])  # type: ignore[operator]
        elif kind == "code_wrong_version":
            p["land_use_code"], p["land_use_code_list"] = "LUN", "2024"  # 2018-only code
        elif kind == "unknown_code":
            p["land_use_code"] = rng.choice(["XYZ", "ONTT", "luc"])
        elif kind == "wrong_era_commune":
            p["commune_code"], p["commune_code_era"] = rng.choice(only_legacy), "2025"
            p["legacy_commune_code"] = None
            p["parcel_id"] = parcel_id(str(p["commune_code"]), int(p["map_sheet"]),  # type: ignore[arg-type]
                                       1_000_000 + index)
            p["parcel_number"] = 1_000_000 + index
        elif kind == "parcel_id_mismatch":
            p["parcel_id"] = f"{p['parcel_id']}A"
        data.defects[f"parcel:{p['parcel_id']}"] = kind
    n_certs = max(len(cert_kinds), int(len(data.certificates) * rate))
    by_parcel = {str(p["parcel_id"]): p for p in data.parcels}
    for i, index in enumerate(rng.sample(range(len(data.certificates)), n_certs)):
        kind = cert_kinds[i % len(cert_kinds)]
        c = data.certificates[index]
        if f"parcel:{c['parcel_id']}" in data.defects or c["parcel_id"] not in by_parcel:
            continue  # keep one defect per record chain: the parcel's
        if kind == "serial_bad_format":
            c["certificate_serial"] = str(c["certificate_serial"]).lower()
        elif kind == "holder_id_bad_format":
            person, c["holder_name"] = rng.choice(holders.people)
            c["holder_type"], c["holder_id"] = "person", person[:-1]  # 11 digits
        elif kind == "issue_date_future":
            c["issue_date"] = data.as_of + timedelta(days=rng.randrange(30, 900))
        elif kind == "holder_name_nfd":
            c["holder_name"] = unicodedata.normalize("NFD", str(c["holder_name"]))
        elif kind == "unknown_holder":
            real, c["holder_name"] = rng.choice(holders.people)
            c["holder_type"] = "person"
            while True:  # a well-formed ID (same prefix and birth year) nobody has
                pid = f"{real[:6]}{rng.randrange(10**6):06d}"
                if pid not in holders.all_people:
                    break
            c["holder_id"] = pid
        data.defects[f"certificate:{c['certificate_serial']}"] = kind
