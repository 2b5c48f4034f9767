"""Seeded enterprises and branches of a province, with defects, and each day's changes.

Row counts follow the population: one enterprise per `PEOPLE_PER_ENTERPRISE` people (at
least `MIN_ENTERPRISES`), about a quarter of them with 1-3 branches. Owners (and heads of
branches) are real adults of `generate_population(size, seed)`: clean, living rows, so
cross-registry checks find them; `unknown_owner` rows use personal IDs that are not in it.

Codes: 10 digits = tax-office prefix ("20" Cà Mau, "19" Bạc Liêu for the old system's
records; unverified) + 7-digit sequence + check digit from python-stdnum
(`stdnum.vn.mst.calc_check_digit`; sequences whose check digit would be "10" are skipped).
Branches: the parent's code + "-" + 001, 002, ...

Each record says which system wrote it (`_system`: "new", records with 2025 commune
codes; "old", records with pre-2025 codes of Cà Mau or Bạc Liêu) and carries `_defect`
(None when clean):
  quarantined: check_digit, branch_000, unknown_status, impossible_date, legal_form,
               mojibake_name (a TCVN3-font name left in a Unicode file)
  reported:    unknown_owner (exists_in population, severity warn)
  normalised:  nfd_text (name in NFD; curated NFC, raw kept)
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from stdnum.vn import mst

from registries import admin_units
from registries.business.encoders import tcvn3_font_text

PEOPLE_PER_ENTERPRISE = 100
MIN_ENTERPRISES = 20
SHARE_WITH_BRANCHES = 0.25
SHARE_OLD_SYSTEM = 0.4
PROVINCE = "96"
LEGACY_PROVINCES = ("96", "95")
TAX_PREFIX = {"96": "20", "95": "19"}
COLUMNS = ("enterprise_code", "unit_type", "name", "legal_form", "status_code", "address",
           "commune_code", "commune_code_era", "owner_personal_id", "sector_code",
           "registered_date", "updated_at")
ENTERPRISE, BRANCH = "doanh nghiệp", "chi nhánh"

LEGAL_FORMS = {  # legal form -> (share, name prefix)
    "TNHH một thành viên": (0.40, "Công ty TNHH MTV"),
    "TNHH hai thành viên trở lên": (0.25, "Công ty TNHH"),
    "cổ phần": (0.15, "Công ty cổ phần"),
    "doanh nghiệp tư nhân": (0.18, "Doanh nghiệp tư nhân"),
    "hợp danh": (0.02, "Công ty hợp danh"),
}
STATUS = {"00": 0.80, "05": 0.06, "03": 0.05, "01": 0.04, "06": 0.03, "07": 0.01, "02": 0.005,
          "04": 0.005}
LINES = {  # line of business in the name -> VSIC 2018 level-4 code
    "Thương mại": "4690", "Dịch vụ": "8299", "Thương mại Dịch vụ": "4690",
    "Xây dựng": "4100", "Thủy sản": "0321", "Chế biến Thủy sản": "1020",
    "Nuôi trồng Thủy sản": "0322", "Vận tải": "4933", "Nông nghiệp": "0111",
    "Du lịch": "5510", "Tư vấn Thiết kế": "7110", "Xuất nhập khẩu": "4620",
    "Công nghệ Thông tin": "6201", "Đầu tư Phát triển": "6810", "Xăng dầu": "4730",
    "Vật liệu Xây dựng": "4663", "Nhà hàng Khách sạn": "5610",
}
BRANDS = ("Minh Phát Hoàng Long Tân Thành Phú Quý Đất Mũi Sông Đốc Hải Đăng Ngọc Hiển "
          "Thịnh Vượng Phước Lộc Kim Ngân Trường Thành Quốc Việt Năm Căn Đầm Dơi Ánh Dương "
          "Hưng Thịnh Bảo Châu Thành Đạt Cửu Long Miền Tây Hồng Phúc Gia Huy Khánh An Đức Trí "
          "Út Hiền Ấp Chợ Thới Bình Ước Mơ Tôm Vàng Rạch Gốc Biển Xanh Duyên Hải Ngũ Phúc "
          "Seafood Sao Mai").split()
STREETS = ("đường Nguyễn Trãi", "đường Lý Thường Kiệt", "đường Trần Hưng Đạo",
           "đường Phan Ngọc Hiển", "đường Ngô Quyền", "đường Hùng Vương", "đường 30 Tháng 4",
           "Ấp Tân Hưng", "Ấp Chợ", "Ấp Bà Điều", "khóm 3", "khóm Ủy ban", "ấp Rạch Ráng")


@dataclass(frozen=True)
class People:
    """Adults who can own an enterprise, and every personal ID of the population."""

    owners: tuple[str, ...]
    all_ids: frozenset[str]


@lru_cache(maxsize=4)
def population_people(size: int, seed: int, as_of: str) -> People:
    from registries.population.generator import generate_population

    table = generate_population(size, seed, as_of=as_of)
    cutoff = (date.fromisoformat(as_of) - timedelta(days=18 * 365 + 5)).isoformat()
    owners = tuple(
        row["personal_id"] for row in table.select(
            ["personal_id", "date_of_birth", "status", "_defect"]).to_pylist()
        if row["_defect"] is None and row["status"] == "Còn sống"
        and row["date_of_birth"] is not None and row["date_of_birth"] <= cutoff
    )
    ids = frozenset(table.column("personal_id").to_pylist())
    return People(owners=owners, all_ids=ids)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _code(prefix: str, sequence: int) -> str | None:
    body = f"{prefix}{sequence:07d}"
    check = mst.calc_check_digit(body)
    return body + check if len(check) == 1 else None


class CodeMaker:
    """Unique valid enterprise codes drawn from a seeded generator."""

    def __init__(self, rng: random.Random, taken: set[str] | None = None) -> None:
        self.rng = rng
        self.taken = taken if taken is not None else set()

    def new(self, prefix: str) -> str:
        while True:
            code = _code(prefix, self.rng.randrange(1, 10_000_000))
            if code and code not in self.taken:
                self.taken.add(code)
                return code


def _communes(system: str) -> list[tuple[str, str, str]]:
    """(code, name, era) the given system writes."""
    if system == "new":
        return [(c, n, "2025") for c, n, _ in admin_units.communes("2025", [PROVINCE])]
    return [(c, n, "2004") for c, n, _ in admin_units.communes("2004", list(LEGACY_PROVINCES))]


@lru_cache(maxsize=2)
def _commune_province(era: str) -> dict[str, str]:
    return {c: p for c, _, p in admin_units.communes(era, None if era == "2025" else
                                                     list(LEGACY_PROVINCES))}


def _timestamp(rng: random.Random, day: date) -> str:
    moment = datetime(day.year, day.month, day.day) + timedelta(seconds=rng.randrange(7 * 3600,
                                                                                      19 * 3600))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "+07:00"


def _address(rng: random.Random, commune_name: str) -> str:
    return f"Số {rng.randrange(1, 400)}, {rng.choice(STREETS)}, {commune_name}"


def _enterprise(rng: random.Random, codes: CodeMaker, people: People, system: str,
                registered: date, updated: date) -> dict[str, str | None]:
    form = _weighted(rng, {k: v[0] for k, v in LEGAL_FORMS.items()})
    line = rng.choice(list(LINES))
    brand = rng.choice(BRANDS) + " " + rng.choice(BRANDS)
    prefix = LEGAL_FORMS[form][1]
    name = f"{prefix} {brand}" if form == "doanh nghiệp tư nhân" else f"{prefix} {line} {brand}"
    commune, commune_name, era = rng.choice(_communes(system))
    province = _commune_province(era).get(commune, PROVINCE)
    return {
        "enterprise_code": codes.new(TAX_PREFIX.get(province, "20")),
        "unit_type": ENTERPRISE, "name": name, "legal_form": form,
        "status_code": _weighted(rng, STATUS), "address": _address(rng, commune_name),
        "commune_code": commune, "commune_code_era": era,
        "owner_personal_id": rng.choice(people.owners), "sector_code": LINES[line],
        "registered_date": registered.isoformat(), "updated_at": _timestamp(rng, updated),
        "_defect": None, "_system": system,
    }


def _branch(rng: random.Random, parent: dict[str, str | None], number: int, people: People,
            registered: date, updated: date) -> dict[str, str | None]:
    system = str(parent["_system"])
    commune, commune_name, era = rng.choice(_communes(system))
    place = commune_name.split(" ", 1)[-1]
    return {
        **parent,
        "enterprise_code": f"{parent['enterprise_code']}-{number:03d}",
        "unit_type": BRANCH, "name": f"Chi nhánh {parent['name']} tại {place}",
        "address": _address(rng, commune_name), "commune_code": commune, "commune_code_era": era,
        "owner_personal_id": rng.choice(people.owners),
        "registered_date": registered.isoformat(), "updated_at": _timestamp(rng, updated),
        "_defect": None,
    }


def _day_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max(1, (end - start).days)))


def enterprise_count(size: int) -> int:
    return max(MIN_ENTERPRISES, size // PEOPLE_PER_ENTERPRISE)


def _clean_registry(rng: random.Random, n: int, people: People, as_of: date
                    ) -> list[dict[str, str | None]]:
    codes = CodeMaker(rng)
    records: list[dict[str, str | None]] = []
    for i in range(n):
        system = "old" if rng.random() < SHARE_OLD_SYSTEM else "new"
        registered = _day_between(rng, date(1995, 1, 1), as_of - timedelta(days=30))
        updated = _day_between(rng, max(registered, as_of - timedelta(days=3 * 365)), as_of)
        parent = _enterprise(rng, codes, people, system, registered, updated)
        records.append(parent)
        if rng.random() < SHARE_WITH_BRANCHES or i == 0:
            for number in range(1, rng.randrange(2, 5)):
                opened = _day_between(rng, registered, as_of)
                records.append(_branch(rng, parent, number, people, opened,
                                       _day_between(rng, opened, as_of)))
    return records


DEFECTS = ("check_digit", "branch_000", "unknown_owner", "unknown_status", "impossible_date",
           "legal_form", "mojibake_name", "nfd_text")
QUARANTINED = frozenset({"check_digit", "branch_000", "unknown_status", "impossible_date",
                         "legal_form", "mojibake_name"})


def unknown_personal_id(rng: random.Random, known: frozenset[str]) -> str:
    """A well-formed Cà Mau personal ID (born 1960-1999) that the population does not have."""
    while candidate := f"096{rng.choice('01')}{rng.randrange(60, 100)}{rng.randrange(10**6):06d}":
        if candidate not in known:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _inject(rng: random.Random, records: list[dict[str, str | None]], people: People,
            defect_rate: float, as_of: date) -> None:
    count = max(len(DEFECTS), round(defect_rate * len(records)))
    branch_children = {str(r["enterprise_code"])[:10] for r in records if r["unit_type"] == BRANCH}
    free = list(range(len(records)))
    rng.shuffle(free)
    for k in range(count):
        kind = DEFECTS[k % len(DEFECTS)]

        def fits(i: int, kind: str = kind) -> bool:
            r = records[i]
            if kind == "branch_000":
                return r["unit_type"] == BRANCH
            if kind == "check_digit":
                return r["unit_type"] == ENTERPRISE and r["enterprise_code"] not in branch_children
            if kind in ("nfd_text", "mojibake_name"):
                return r["_system"] == "new"
            return True

        pick = next((i for i in free if fits(i)), None)
        if pick is None:
            continue
        free.remove(pick)
        r = records[pick]
        r["_defect"] = kind
        code = str(r["enterprise_code"])
        if kind == "check_digit":
            wrong = [d for d in "0123456789" if d != code[9]]
            r["enterprise_code"] = code[:9] + rng.choice(wrong)
        elif kind == "branch_000":
            r["enterprise_code"] = code[:10] + "-000"
        elif kind == "unknown_owner":
            r["owner_personal_id"] = unknown_personal_id(rng, people.all_ids)
        elif kind == "unknown_status":
            r["status_code"] = rng.choice(["09", "5", "10"])
        elif kind == "impossible_date":
            r["registered_date"] = rng.choice(["2023-02-30", "2021-13-05",
                                               (as_of + timedelta(days=30 * 365)).isoformat()])
        elif kind == "legal_form":
            r["legal_form"] = rng.choice(["Công ty TNHH", "TNHH 1TV", "CTCP"])
        elif kind == "mojibake_name":
            r["name"] = tcvn3_font_text([str(r["name"])])[0]
        elif kind == "nfd_text":
            r["name"] = unicodedata.normalize("NFD", str(r["name"]))


def generate_business(size: int, seed: int = 42, as_of: str = "2026-11-01",
                      defect_rate: float = 0.04, people: People | None = None
                      ) -> list[dict[str, str | None]]:
    """The registry on `as_of`: enterprises and branches, every defect kind at least once.
    Deterministic for the same arguments."""
    people = people or population_people(size, seed, as_of)
    rng = random.Random(f"business:{size}:{seed}:{as_of}")
    records = _clean_registry(rng, enterprise_count(size), people, date.fromisoformat(as_of))
    _inject(rng, records, people, defect_rate, date.fromisoformat(as_of))
    return records


@dataclass
class DayChanges:
    day: date
    updated: list[dict[str, str | None]]
    new: list[dict[str, str | None]]

    @property
    def records(self) -> list[dict[str, str | None]]:
        return self.updated + self.new


def day_changes(size: int, seed: int, day: date | str, as_of: str = "2026-11-01",
                people: People | None = None) -> DayChanges:
    """What the registry records on `day` (after `as_of`): status changes and moves of
    existing clean enterprises (~2 %), and new enterprises (~1 %, new system). Clean rows;
    updated_at on that day. Deterministic for (size, seed, day, as_of)."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    people = people or population_people(size, seed, as_of)
    base = generate_business(size, seed, as_of, people=people)
    rng = random.Random(f"business-day:{size}:{seed}:{day.isoformat()}")
    clean = [r for r in base if r["_defect"] is None]
    n = enterprise_count(size)
    updated = []
    for record in rng.sample(clean, k=min(len(clean), max(2, round(0.02 * n)))):
        change = dict(record)
        if rng.random() < 0.5:
            change["status_code"] = rng.choice([s for s in STATUS if s != record["status_code"]])
        else:
            commune, commune_name, era = rng.choice(_communes("new"))
            change.update(commune_code=commune, commune_code_era=era,
                          address=_address(rng, commune_name), _system="new")
        change["updated_at"] = _timestamp(rng, day)
        updated.append(change)
    codes = CodeMaker(rng, taken={str(r["enterprise_code"])[:10] for r in base})
    new = [_enterprise(rng, codes, people, "new", day, day)
           for _ in range(max(1, round(0.01 * n)))]
    return DayChanges(day=day, updated=updated, new=new)
