"""Seeded, vectorised generator of a province's population (the registry's initial state).

`generate_population(size, seed, defect_rate, as_of, province_code)` returns an Arrow table of
exactly `size` rows: the record columns the API serves (all strings or null) plus two internal
ones, `_defect` (which defect a row carries, null when clean) and `_seq` (int64 row sequence,
the paging key). Everything is drawn with numpy from one seeded generator: the same arguments
give the same table, and 1.2 M rows take seconds.

How people are drawn (see DOMAIN.md):
- Households of 1-7 members (one "Chủ hộ"); spouse, children, grandchildren, parents, in-laws
  with ages that fit the relation; children take the father's family name.
- Names in Vietnamese order (family + middle + given), family names by real frequency,
  middle and given names by sex; NFC.
- Personal ID: "0" + birth-registration province (mostly the old provinces that merged into
  this one, ~5 % other pre-2025 provinces, ~0.5 % a country code 101-295 for births abroad) +
  century/sex digit + 2 digits of the birth year + 6 random digits; unique.
- Residence: ~85 % of households carry a 2025 commune code (era "2025"), ~15 % still carry a
  pre-2025 code of one of the merged provinces (era "2004").
- Some people are deceased (more at older ages), `updated_at` spreads over the 3 years before
  `as_of`, never before birth.
Defects are injected by `registries.population.defects`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registries import admin_units
from registries.population import names
from registries.population.geography import ProvinceGeography, province_geography

PUBLIC_COLUMNS: tuple[str, ...] = (
    "personal_id",
    "full_name",
    "sex",
    "date_of_birth",
    "ethnicity",
    "household_id",
    "relation_to_head",
    "residence_commune_code",
    "residence_code_era",
    "residence_address",
    "status",
    "date_of_death",
    "updated_at",
)
MALE, FEMALE = "Nam", "Nữ"
ALIVE, DEAD = "Còn sống", "Đã mất"
ERA_2025, ERA_2004 = "2025", "2004"
UPDATE_WINDOW_DAYS = 3 * 365 + 1
"""updated_at of the initial state lies in the 3 years before as_of."""
SHARE_ERA_2004 = 0.15
SHARE_BORN_ELSEWHERE = 0.05
SHARE_BORN_ABROAD = 0.005
SECONDS_PER_DAY = 86_400
_EPOCH = date(1970, 1, 1)

_HOUSEHOLD_SIZES = np.arange(1, 8)
_HOUSEHOLD_SIZE_P = np.array([0.12, 0.20, 0.22, 0.24, 0.12, 0.06, 0.04])
_SHARE_MALE_HEAD = 0.72
_SHARE_MALE_BIRTH = 0.52  # sex ratio at birth ~ 1.1


def parse_as_of(as_of: str | date | datetime) -> date:
    """A date from "YYYY-MM-DD", a date or a datetime."""
    if isinstance(as_of, datetime):
        return as_of.date()
    if isinstance(as_of, date):
        return as_of
    return date.fromisoformat(str(as_of))


def epoch_day(day: date) -> int:
    return (day - _EPOCH).days


def iso_utc(seconds: int) -> str:
    """Epoch seconds as "2026-10-31T08:15:02Z"."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- vocabularies as Arrow arrays ---------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    family: pa.Array
    family_p: np.ndarray
    middle: pa.Array  # male middle names first, then female
    middle_male_p: np.ndarray
    middle_female_p: np.ndarray
    given: pa.Array  # male given names first, then female
    given_male_p: np.ndarray
    given_female_p: np.ndarray
    ethnicity: pa.Array
    ethnicity_p: np.ndarray
    address_rural: pa.Array
    address_urban: pa.Array
    middle_given_clash: np.ndarray  # [middle, given]: the given name repeats the middle's end


def _zipf(n: int, shift: float = 6.0) -> np.ndarray:
    p = 1.0 / (np.arange(n) + shift)
    return p / p.sum()


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    family, family_p = names.nfc_keys(names.FAMILY_NAMES)
    mid_m, mid_m_p = names.nfc_keys(names.MIDDLE_NAMES_MALE)
    mid_f, mid_f_p = names.nfc_keys(names.MIDDLE_NAMES_FEMALE)
    giv_m, _ = names.uniform(names.GIVEN_NAMES_MALE)
    giv_f, _ = names.uniform(names.GIVEN_NAMES_FEMALE)
    eth, eth_p = names.nfc_keys(names.ETHNICITIES)
    rural, urban = names.address_vocabulary()
    return Vocabulary(
        family=pa.array(family),
        family_p=family_p,
        middle=pa.array(mid_m + mid_f),
        middle_male_p=np.concatenate([mid_m_p, np.zeros(len(mid_f))]),
        middle_female_p=np.concatenate([np.zeros(len(mid_m)), mid_f_p]),
        given=pa.array(giv_m + giv_f),
        given_male_p=np.concatenate([_zipf(len(giv_m)), np.zeros(len(giv_f))]),
        given_female_p=np.concatenate([np.zeros(len(giv_m)), _zipf(len(giv_f))]),
        ethnicity=pa.array(eth),
        ethnicity_p=eth_p,
        address_rural=pa.array(rural),
        address_urban=pa.array(urban),
        middle_given_clash=np.array([[m.split()[-1] == g for g in giv_m + giv_f] for m in mid_m + mid_f]),
    )


def _pick(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """n indices drawn with probabilities p (inverse CDF; faster than choice for big n)."""
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(p) - 1)


def draw_family_names(rng: np.random.Generator, n: int) -> np.ndarray:
    return _pick(rng, vocabulary().family_p, n)


def full_names(rng: np.random.Generator, family_idx: np.ndarray, male: np.ndarray) -> pa.Array:
    """Family + middle + given names (middle and given by sex), NFC strings."""
    v, n = vocabulary(), len(male)
    middle = np.where(male, _pick(rng, v.middle_male_p, n), _pick(rng, v.middle_female_p, n))
    given = np.where(male, _pick(rng, v.given_male_p, n), _pick(rng, v.given_female_p, n))
    for _ in range(8):  # no "Thị Ngọc Ngọc": the given name differs from the middle's last word
        clash = v.middle_given_clash[middle, given]
        if not clash.any():
            break
        k = int(clash.sum())
        given[clash] = np.where(male[clash], _pick(rng, v.given_male_p, k), _pick(rng, v.given_female_p, k))
    return pc.binary_join_element_wise(
        v.family.take(pa.array(family_idx)),
        v.middle.take(pa.array(middle)),
        v.given.take(pa.array(given)),
        " ",
    )


def addresses(rng: np.random.Generator, urban: np.ndarray) -> pa.Array:
    """Street addresses: "Ấp 3" in rural communes, "Khóm 5" / "Số 12 đường ..." in wards."""
    v, n = vocabulary(), len(urban)
    rural = v.address_rural.take(pa.array(rng.integers(0, len(v.address_rural), n)))
    city = v.address_urban.take(pa.array(rng.integers(0, len(v.address_urban), n)))
    return pc.if_else(pa.array(urban), city, rural)


# --- identifiers and formatting -----------------------------------------------------------


def birth_years(dob_days: np.ndarray) -> np.ndarray:
    return dob_days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def personal_id_numbers(
    rng: np.random.Generator,
    prefix: np.ndarray,
    dob_days: np.ndarray,
    male: np.ndarray,
    taken: np.ndarray | None = None,
) -> np.ndarray:
    """12-digit personal IDs as int64: prefix (3) + century/sex (1) + year (2) + random (6).

    Unique among themselves and not in `taken` (a sorted int64 array of IDs in use).
    """
    year = birth_years(dob_days)
    century_sex = (year // 100 - 19) * 2 + (~male).astype(np.int64)
    base = prefix.astype(np.int64) * 10**9 + century_sex * 10**8 + (year % 100) * 10**6
    ids = base + rng.integers(0, 10**6, len(base))
    while True:
        clash = np.ones(len(ids), dtype=bool)
        clash[np.unique(ids, return_index=True)[1]] = False
        if taken is not None and len(taken):
            pos = np.minimum(np.searchsorted(taken, ids), len(taken) - 1)
            clash |= taken[pos] == ids
        if not clash.any():
            return ids
        ids[clash] = base[clash] + rng.integers(0, 10**6, int(clash.sum()))


def format_numbers(values: np.ndarray, width: int, prefix: str = "") -> pa.Array:
    text = pc.utf8_lpad(pa.array(values, pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "") if prefix else text


def format_dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Epoch days as "YYYY-MM-DD" (null where not valid)."""
    arr = pa.array(days.astype(np.int32), pa.int32(), mask=None if valid is None else ~valid)
    return arr.cast(pa.date32()).cast(pa.string())


@lru_cache(maxsize=1)
def _times_of_day() -> pa.Array:
    return pa.array([f"T{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)])


def format_timestamps(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds as ISO-8601 UTC strings ("2026-10-31T08:15:02Z").

    Composed from a date cast and a table of the 86,400 times of day: much faster than
    strftime, which also loads the time-zone database on first use.
    """
    seconds = np.asarray(seconds, dtype=np.int64)
    days = format_dates(seconds // SECONDS_PER_DAY)
    return pc.binary_join_element_wise(days, _times_of_day().take(pa.array(seconds % SECONDS_PER_DAY)), "")


# --- the population -----------------------------------------------------------------------


def _households(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Household index, position in household and household size of each of n people."""
    sizes = rng.choice(_HOUSEHOLD_SIZES, size=n // 3 + 8, p=_HOUSEHOLD_SIZE_P)
    while sizes.sum() < n:
        sizes = np.concatenate([sizes, rng.choice(_HOUSEHOLD_SIZES, 8, p=_HOUSEHOLD_SIZE_P)])
    ends = np.cumsum(sizes)
    count = int(np.searchsorted(ends, n)) + 1
    sizes = sizes[:count].copy()
    sizes[-1] -= ends[count - 1] - n
    household = np.repeat(np.arange(count), sizes)
    starts = np.cumsum(sizes) - sizes
    return household, np.arange(n) - starts[household], sizes


def _relations_sex_age(
    rng: np.random.Generator, household: np.ndarray, position: np.ndarray, hh_size: np.ndarray
) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """Relation to the head, sex (True = male), age in years, and relation code per person."""
    n, households = len(household), len(hh_size)
    head_male = rng.random(households) < _SHARE_MALE_HEAD
    head_age = np.clip(rng.normal(47.0, 14.0, households), 19.0, 94.0)
    hm, ha = head_male[household], head_age[household]
    rels = list(names.RELATIONS)
    code = np.full(n, rels.index(names.CHILD))
    r = rng.random(n)
    is_head = position == 0
    spouse = (position == 1) & (r < 0.8)
    code[is_head] = rels.index(names.HEAD)
    code[spouse] = np.where(hm[spouse], rels.index(names.WIFE), rels.index(names.HUSBAND))
    last = (position >= 2) & (position == hh_size[household] - 1)
    parent = last & (r < 0.2)
    code[parent] = np.where(r[parent] < 0.14, rels.index(names.MOTHER), rels.index(names.FATHER))
    rest = ~is_head & ~spouse & ~parent
    others = np.array(
        [
            rels.index(x)
            for x in (names.CHILD, names.GRANDCHILD, names.DAUGHTER_IN_LAW, names.SON_IN_LAW, names.SIBLING)
        ]
    )
    code[rest] = others[_pick(rng, np.array([0.85, 0.08, 0.04, 0.02, 0.01]), int(rest.sum()))]

    male = rng.random(n) < _SHARE_MALE_BIRTH
    male[is_head] = hm[is_head]
    male[spouse] = ~hm[spouse]
    for rel, value in (
        (names.FATHER, True),
        (names.SON_IN_LAW, True),
        (names.MOTHER, False),
        (names.DAUGHTER_IN_LAW, False),
    ):
        male[code == rels.index(rel)] = value

    u = rng.random(n)
    gap = rng.normal(3.0, 3.0, n)
    age = np.select(
        [
            code == rels.index(names.HEAD),
            code == rels.index(names.WIFE),
            code == rels.index(names.HUSBAND),
            code == rels.index(names.CHILD),
            code == rels.index(names.GRANDCHILD),
            (code == rels.index(names.FATHER)) | (code == rels.index(names.MOTHER)),
            (code == rels.index(names.DAUGHTER_IN_LAW)) | (code == rels.index(names.SON_IN_LAW)),
            code == rels.index(names.SIBLING),
        ],
        [
            ha,
            np.clip(ha - gap, 18.0, 95.5),
            np.clip(ha + gap, 18.0, 95.5),
            np.maximum(ha - 45.0, 0.0) + u * (np.maximum(ha - 19.0, 0.2) - np.maximum(ha - 45.0, 0.0)),
            u * np.maximum(ha - 38.0, 0.2),
            np.clip(ha + 20.0 + u * 14.0, 40.0, 95.5),
            np.clip(ha - 20.0 - u * 12.0, 18.0, 95.5),
            np.clip(ha - 1.0 - u * 11.0, 0.2, 95.5),
        ],
    )
    relation = pa.array(rels).take(pa.array(code))
    return relation, male, age, code


def _birth_prefixes(rng: np.random.Generator, n: int, geo: ProvinceGeography) -> np.ndarray:
    """Province (or country) code of birth registration, the first 3 digits of the ID."""
    home = np.array([int(p) for p in geo.legacy_provinces])
    weight = np.array(
        [len(admin_units.communes("2004", [p])) for p in geo.legacy_provinces], dtype=np.float64
    )
    others = np.array([int(p) for p in admin_units.province_codes("2004") if p not in geo.legacy_provinces])
    prefix = home[_pick(rng, weight / weight.sum(), n)]
    u = rng.random(n)
    elsewhere = u < SHARE_BORN_ELSEWHERE
    abroad = u > 1.0 - SHARE_BORN_ABROAD
    prefix[elsewhere] = others[rng.integers(0, len(others), int(elsewhere.sum()))]
    prefix[abroad] = rng.integers(101, 296, int(abroad.sum()))
    return prefix


@dataclass(frozen=True)
class CleanPopulation:
    """The clean records plus the arrays the defect injector needs."""

    table: pa.Table
    id_numbers: np.ndarray
    dob_days: np.ndarray
    male: np.ndarray
    non_ascii_name: np.ndarray


def clean_population(
    rng: np.random.Generator, n: int, as_of: date, geo: ProvinceGeography
) -> CleanPopulation:
    """n clean records of a province as of a date (no defects, no _seq)."""
    v = vocabulary()
    as_of_day = epoch_day(as_of)
    household, position, hh_size = _households(rng, n)
    households = len(hh_size)
    relation, male, age, rel_code = _relations_sex_age(rng, household, position, hh_size)

    age_days = np.maximum((age * 365.25).astype(np.int64), 1)
    dob_days = as_of_day - age_days

    # Family names: the head's, the spouse's (the father's for children of a female head),
    # or a draw of their own for those who married in.
    rels = list(names.RELATIONS)
    fam_head = draw_family_names(rng, households)[household]
    fam_spouse = draw_family_names(rng, households)[household]
    own = draw_family_names(rng, n)
    head_male = male[(np.cumsum(hh_size) - hh_size)][household]
    paternal = np.where(head_male, fam_head, fam_spouse)
    family = np.select(
        [
            np.isin(rel_code, [rels.index(names.HEAD), rels.index(names.FATHER), rels.index(names.SIBLING)]),
            np.isin(rel_code, [rels.index(names.WIFE), rels.index(names.HUSBAND)]),
            np.isin(rel_code, [rels.index(names.CHILD), rels.index(names.GRANDCHILD)]),
        ],
        [fam_head, fam_spouse, paternal],
        own,
    )
    full_name = full_names(rng, family, male)
    non_ascii = ~pc.equal(pc.binary_length(full_name), pc.utf8_length(full_name)).to_numpy(
        zero_copy_only=False
    )

    # Residence, per household.
    old_era = rng.random(households) < SHARE_ERA_2004
    idx_new = rng.integers(0, len(geo.communes_2025), households)
    idx_old = rng.integers(0, len(geo.communes_2004), households)
    communes = pa.array(geo.communes_2025 + geo.communes_2004)
    commune_idx = np.where(old_era, len(geo.communes_2025) + idx_old, idx_new)
    urban = np.where(old_era, geo.urban_2004[idx_old], geo.urban_2025[idx_new])
    hh_address = addresses(rng, urban)
    ethnicity = v.ethnicity.take(pa.array(_pick(rng, v.ethnicity_p, households)))
    hh_numbers = rng.choice(10**8, size=households, replace=False) + int(geo.province_code) * 10**8

    # Identifiers.
    prefix = _birth_prefixes(rng, n, geo)
    ids = personal_id_numbers(rng, prefix, dob_days, male)

    # Deaths (more likely with age) and the time of the last update.
    p_dead = 0.003 + 0.4 * np.clip((age - 55.0) / 40.0, 0.0, 1.0) ** 2
    dead = rng.random(n) < p_dead
    window_start = (as_of_day - UPDATE_WINDOW_DAYS) * SECONDS_PER_DAY
    as_of_s = as_of_day * SECONDS_PER_DAY
    updated = rng.integers(np.maximum(window_start, dob_days * SECONDS_PER_DAY), as_of_s)
    upd_day = updated // SECONDS_PER_DAY
    dod_days = rng.integers(np.maximum(dob_days, upd_day - 5 * 365), upd_day + 1)

    hh = pa.array(household)
    table = pa.table(
        {
            "personal_id": format_numbers(ids, 12),
            "full_name": full_name,
            "sex": pc.if_else(pa.array(male), MALE, FEMALE),
            "date_of_birth": format_dates(dob_days),
            "ethnicity": ethnicity.take(hh),
            "household_id": format_numbers(hh_numbers, 10, prefix="HK").take(hh),
            "relation_to_head": relation,
            "residence_commune_code": communes.take(pa.array(commune_idx[household])),
            "residence_code_era": pc.if_else(pa.array(old_era[household]), ERA_2004, ERA_2025),
            "residence_address": hh_address.take(hh),
            "status": pc.if_else(pa.array(dead), DEAD, ALIVE),
            "date_of_death": format_dates(dod_days, valid=dead),
            "updated_at": format_timestamps(updated),
        }
    )
    return CleanPopulation(
        table=table, id_numbers=ids, dob_days=dob_days, male=male, non_ascii_name=non_ascii
    )


def generate_population(
    size: int,
    seed: int = 42,
    defect_rate: float = 0.03,
    as_of: str | date | datetime = "2026-11-01",
    province_code: str = "96",
) -> pa.Table:
    """The registry's initial state: `size` rows, public columns + `_defect` + `_seq`.

    Deterministic for (size, seed, defect_rate, as_of, province_code); the number of rows of
    each defect kind depends only on (size, defect_rate) (see `defects.defect_counts`).
    """
    from registries.population.defects import defect_counts, inject_defects

    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    day = parse_as_of(as_of)
    geo = province_geography(province_code)
    counts = defect_counts(size, defect_rate)
    rng = np.random.default_rng(seed)
    people = clean_population(rng, size - counts["duplicate"], day, geo)
    table = inject_defects(people, rng, counts, geo, day)
    return table.append_column("_seq", pa.array(np.arange(1, table.num_rows + 1), pa.int64()))
