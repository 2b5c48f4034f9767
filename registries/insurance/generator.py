"""Seeded members of the simulated social/health insurance registry (BHXH / BHYT).

Members are REAL people of the simulated population (same size and seed), so cross-registry
checks work: clean population rows (`_defect` null) become members, with ~93% coverage.
Each member has a 10-digit BHXH number, a 15-character health-insurance card number
(group + benefit level + province + BHXH number), a card validity period, an employer code
and an update time. Employers are real too: enterprise employees (group DN) work for a clean
enterprise or branch of the business registry of the same size and seed (a few for one that
has ceased or is suspended); public servants (HC) for public bodies, whose tax codes (valid
per python-stdnum) are not in the business registry; other members have no employer (nil).

Children under 6 mostly hold TE (level 1) cards valid until the day before their 6th
birthday; a configurable share does not (no record at all, or a household card): the gaps a
cross-registry dataset must find. A few deceased people keep an active card.

Defects, on a configurable share of rows (`_defect` says which): the card's BHXH part differs
from the member's BHXH number, a level not allowed for the group, a malformed card, a
validity period ending before it starts, a malformed BHXH number, an impossible date; plus
members whose personal ID is not in the population (`unknown_personal_id`).
`_note` marks rows that are fine in themselves but matter to linking (`child_not_te`,
`deceased_card_active`, `employer_inactive`).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import pyarrow as pa
from stdnum.vn import mst

from expectations.rules_insurance import BENEFIT_LEVELS_BY_GROUP

log = logging.getLogger(__name__)
ICT = timezone(timedelta(hours=7))
COLUMNS = ("bhxh_number", "personal_id", "full_name", "date_of_birth", "card_number",
           "card_valid_from", "card_valid_to", "employer_code", "updated_at")
DEFECT_KINDS: dict[str, float] = {
    "card_bhxh_mismatch": 0.25,
    "level_not_allowed": 0.2,
    "card_bad_pattern": 0.2,
    "validity_reversed": 0.15,
    "bhxh_bad_format": 0.1,
    "date_invalid": 0.1,
}
INACTIVE_EMPLOYER_SHARE = 0.02
"""Share of enterprise employees whose employer has ceased or is suspended (status != 00)."""
DEFAULT_AS_OF = "2026-11-01"
"""The population registry's default date: both registries must draw the same people."""
EXPIRED_SHARE = 0.03
"""Share of yearly cards not renewed (expired before as_of): fine records, stale cards."""
COVERAGE = 0.93
"""Share of the population insured (national coverage is about 93%)."""

# Beneficiary group by age band: (group, weight). Levels come from the rule's group table.
_GROUPS_BY_AGE: tuple[tuple[int, tuple[tuple[str, float], ...]], ...] = (
    (18, (("HS", 0.85), ("GD", 0.10), ("HN", 0.05))),
    (23, (("SV", 0.40), ("DN", 0.20), ("GD", 0.30), ("HN", 0.05), ("CN", 0.05))),
    (60, (("DN", 0.40), ("HC", 0.08), ("GD", 0.30), ("HN", 0.06), ("CN", 0.05), ("DT", 0.04),
          ("NN", 0.05), ("QN", 0.01), ("CA", 0.01))),
    (200, (("HT", 0.30), ("GD", 0.40), ("CC", 0.05), ("HN", 0.10), ("CN", 0.05), ("BT", 0.10))),
)


@dataclass(frozen=True)
class Uninsured:
    """A person of the population without a member record (a candidate for enrolment)."""

    personal_id: str
    full_name: str
    date_of_birth: str
    province: str


@dataclass(frozen=True)
class InsuranceData:
    as_of: date
    members: pa.Table
    """COLUMNS as strings (None = element absent/nil), then `_defect` and `_note`."""
    uninsured_children: list[str] = field(default_factory=list)
    """Personal IDs of children under 6 of the population with no member record at all."""
    uninsured: list[Uninsured] = field(default_factory=list)
    """Everyone of the population (clean rows, alive) without a member record."""
    employers: list[str] = field(default_factory=list)
    """Codes of the active enterprises (and branches) employees work for."""


def _months_before(day: date, months: int) -> date:
    """The first day of the month `months` before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _as_date(value: date | str | None) -> date:
    if value is None:
        return date.fromisoformat(DEFAULT_AS_OF)
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def add_years(born: date, years: int) -> date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # 29 February
        return born.replace(year=born.year + years, day=28)


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def employer_codes(count: int, rng: random.Random, prefix: str = "20",
                   exclude: frozenset[str] = frozenset()) -> list[str]:
    """Valid tax codes (python-stdnum's check digit); `prefix` mimics the tax office
    numbering of the province (unverified)."""
    codes: set[str] = set()
    while len(codes) < count:
        body = prefix + f"{rng.randrange(10**7):07d}"
        code = body + mst.calc_check_digit(body)
        if len(code) == 10 and mst.is_valid(code) and code not in exclude:
            codes.add(code)
    return sorted(codes)


@lru_cache(maxsize=1)
def _legacy_province_of_commune() -> dict[str, str]:
    from registries.admin_units import communes

    return {code: province for code, _, province in communes("2004", ["95", "96"])}


def _card_province(commune: str | None, era: str | None, province_code: str) -> str:
    """Cards issued before the 2025 merge carry the legacy province (95 Bạc Liêu, 96 Cà Mau)."""
    if era == "2004" and commune:
        return _legacy_province_of_commune().get(commune, province_code)
    return province_code


def _pick(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _group_for_age(age: int, rng: random.Random) -> str:
    for limit, choices in _GROUPS_BY_AGE:
        if age < limit:
            return _pick(rng, choices)
    raise AssertionError("unreachable")


class _Numbers:
    """Unique BHXH numbers: 2-digit province + 8 digits (structure unverified); a few
    members moved in from other provinces and keep their old number (leading zeros too)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set[str]()

    def bhxh(self, province: str) -> str:
        while True:
            prefix = province if self.rng.random() > 0.04 else f"{self.rng.randrange(1, 95):02d}"
            number = prefix + f"{self.rng.randrange(10**8):08d}"
            if number not in self.used:
                self.used.add(number)
                return number


def _updated_at(rng: random.Random, as_of: date) -> str:
    end = datetime(as_of.year, as_of.month, as_of.day, tzinfo=ICT)
    moment = end - timedelta(seconds=rng.randrange(1, 730 * 86400))
    return moment.isoformat()


def card_for(group: str, province: str, bhxh: str) -> str:
    return f"{group}{BENEFIT_LEVELS_BY_GROUP[group][0]}{province}{bhxh}"


def _apply_defect(kind: str, row: dict[str, str | None], rng: random.Random) -> None:
    card, bhxh = row["card_number"] or "", row["bhxh_number"] or ""
    if kind == "card_bhxh_mismatch":
        last = str((int(bhxh[-1]) + rng.randrange(1, 10)) % 10)
        row["card_number"] = card[:-1] + last
    elif kind == "level_not_allowed":
        allowed = BENEFIT_LEVELS_BY_GROUP[card[:2]]
        level = rng.choice([v for v in range(1, 6) if v not in allowed])
        row["card_number"] = card[:2] + str(level) + card[3:]
    elif kind == "card_bad_pattern":
        row["card_number"] = rng.choice([
            card[:2].lower() + card[2:],    # lower-case group
            card[:-1],                      # a digit lost
            card[:2] + " " + card[2:],      # typed with a space
            card[:5] + "O" + card[6:],      # letter O for a digit
        ])
    elif kind == "validity_reversed":
        start = date.fromisoformat(str(row["card_valid_from"]))
        row["card_valid_to"] = (start - timedelta(days=rng.randrange(1, 365))).isoformat()
    elif kind == "bhxh_bad_format":
        row["bhxh_number"] = bhxh[1:]  # the leading digit lost, as by a spreadsheet
    elif kind == "date_invalid":
        start = str(row["card_valid_from"])
        row["card_valid_from"] = start[:5] + "02-30"
    else:
        raise ValueError(f"unknown defect kind {kind!r}")


def _enterprises(size: int, seed: int, as_of: date, rng: random.Random
                 ) -> tuple[list[str], list[str]]:
    """(active, inactive) employer codes: the clean enterprises and branches of the business
    registry of the same size and seed (status 00, or ceased/suspended), so that employers
    link across registries. Without that registry: generated codes, none inactive."""
    try:
        from registries.business.generator import generate_business
    except ImportError:
        log.warning("registries.business is not available: employers get generated codes")
        return employer_codes(max(5, size // 60), rng), []
    records = [r for r in generate_business(size, seed, as_of=as_of.isoformat())
               if r["_defect"] is None]
    active = sorted(str(r["enterprise_code"]) for r in records if r["status_code"] == "00")
    inactive = sorted(str(r["enterprise_code"]) for r in records if r["status_code"] != "00")
    return active, inactive


def _population(size: int, seed: int, as_of: date) -> pa.Table:
    from registries.population.generator import generate_population

    return generate_population(size, seed, as_of=as_of.isoformat())


def generate_insurance(size: int, seed: int, defect_rate: float = 0.03,
                       unknown_id_rate: float = 0.01, child_gap_rate: float = 0.08,
                       as_of: date | str | None = None, province_code: str = "96",
                       ) -> InsuranceData:
    """The registry's members for a population of `size` people generated with `seed`."""
    as_of = _as_date(as_of)
    rng = random.Random(f"insurance:{seed}")
    people = _population(size, seed, as_of)
    cols = ["personal_id", "full_name", "date_of_birth", "status", "residence_commune_code",
            "residence_code_era", "_defect"]
    data = {c: people.column(c).to_pylist() for c in cols}
    all_ids = set(data["personal_id"])
    active, inactive = _enterprises(size, seed, as_of, rng)
    public_bodies = employer_codes(max(3, size // 1000), rng, prefix="20",
                                   exclude=frozenset(active + inactive))
    numbers = _Numbers(rng)
    rows: list[dict[str, str | None]] = []
    uninsured_children: list[str] = []
    uninsured: list[Uninsured] = []
    for i in range(people.num_rows):
        if data["_defect"][i] is not None:
            continue
        pid = data["personal_id"][i]
        born = date.fromisoformat(data["date_of_birth"][i])
        age = _age(born, as_of)
        note = None
        if data["status"][i] != "Còn sống":
            if rng.random() > 0.05:
                continue
            note = "deceased_card_active"
        province = _card_province(data["residence_commune_code"][i],
                                  data["residence_code_era"][i], province_code)
        alive = note is None
        if age < 6:
            if alive and rng.random() < child_gap_rate:
                if rng.random() < 0.6:
                    uninsured_children.append(pid)
                    uninsured.append(Uninsured(pid, data["full_name"][i], born.isoformat(),
                                               province))
                    continue
                group, note = "GD", "child_not_te"
            else:
                group = "TE"
        else:
            if alive and rng.random() > COVERAGE:
                uninsured.append(Uninsured(pid, data["full_name"][i], born.isoformat(),
                                           province))
                continue
            group = _group_for_age(age, rng)
        bhxh = numbers.bhxh(province)
        if group == "TE":
            valid_from, valid_to = born, add_years(born, 6) - timedelta(days=1)
        else:
            # Yearly cards starting on the 1st of a month; a few were not renewed (expired).
            months_back = rng.randrange(12) if rng.random() > EXPIRED_SHARE else rng.randrange(12, 24)
            valid_from = _months_before(as_of, months_back)
            valid_to = add_years(valid_from, 1) - timedelta(days=1)
        employer = None
        if group == "HC":
            employer = rng.choice(public_bodies)
        elif group == "DN":
            if inactive and rng.random() < INACTIVE_EMPLOYER_SHARE:
                employer, note = rng.choice(inactive), note or "employer_inactive"
            else:
                employer = rng.choice(active)
        rows.append({
            "bhxh_number": bhxh,
            "personal_id": pid,
            "full_name": data["full_name"][i],
            "date_of_birth": born.isoformat(),
            "card_number": card_for(group, province, bhxh),
            "card_valid_from": valid_from.isoformat(),
            "card_valid_to": valid_to.isoformat(),
            "employer_code": employer,
            "updated_at": _updated_at(rng, as_of),
            "_defect": None,
            "_note": note,
        })
    rows.extend(_unknown_people(rows, all_ids, unknown_id_rate, numbers, rng, as_of,
                                province_code))
    kinds = list(DEFECT_KINDS)
    weights = list(DEFECT_KINDS.values())
    for row in rows:
        if row["_defect"] is None and rng.random() < defect_rate:
            kind = rng.choices(kinds, weights=weights)[0]
            _apply_defect(kind, row, rng)
            row["_defect"] = kind
    rng.shuffle(rows)
    names = list(COLUMNS) + ["_defect", "_note"]
    table = pa.table({n: pa.array([r[n] for r in rows], pa.string()) for n in names})
    return InsuranceData(as_of=as_of, members=table, uninsured_children=uninsured_children,
                         uninsured=uninsured, employers=active)


def _unknown_people(rows: list[dict[str, str | None]], known: set[str], rate: float,
                    numbers: _Numbers, rng: random.Random, as_of: date,
                    province_code: str) -> list[dict[str, str | None]]:
    """Members whose (well-formed, consistent) personal ID is not in the population."""
    out: list[dict[str, str | None]] = []
    count = round(len(rows) * rate)
    while len(out) < count and rows:
        template = rng.choice(rows)
        born = as_of - timedelta(days=rng.randrange(20 * 365, 70 * 365))
        digit = (born.year // 100 - 19) * 2 + rng.randrange(2)
        pid = f"0{province_code}{digit}{born.year % 100:02d}{rng.randrange(10**6):06d}"
        if pid in known:
            continue
        known.add(pid)
        bhxh = numbers.bhxh(province_code)
        valid_from = _months_before(as_of, rng.randrange(12))
        out.append({
            **template,
            "bhxh_number": bhxh,
            "personal_id": pid,
            "date_of_birth": born.isoformat(),
            "card_number": card_for("GD", province_code, bhxh),
            "card_valid_from": valid_from.isoformat(),
            "card_valid_to": (add_years(valid_from, 1) - timedelta(days=1)).isoformat(),
            "employer_code": None,
            "updated_at": _updated_at(rng, as_of),
            "_defect": "unknown_personal_id",
            "_note": None,
        })
    return out


def generate_members(size: int, seed: int, **kwargs: object) -> pa.Table:
    """Just the members table (see generate_insurance for the parameters)."""
    return generate_insurance(size, seed, **kwargs).members  # type: ignore[arg-type]
