"""Defects injected into the simulated population, the kinds real registry extracts carry.

A share `defect_rate` of the rows gets exactly one defect each, spread evenly over the kinds
below, and labelled in the internal column `_defect` (null for clean rows). The number of rows
of each kind depends only on (size, defect_rate); which rows, and the defective values, come
from the seeded generator.

- name_nfd: full_name in NFD (decomposed) form: same text, different code points.
- name_tcvn3: full_name as a TCVN3 system shows it: glibc iconv bytes read as cp1252.
- name_vni: full_name as a VNI Windows system shows it (simulation-only table, no codec).
- id_bad_format: 11 or 13 digits, a letter in place of a digit, or a legacy 9-digit CMND.
- id_bad_province: the 3-digit prefix is no province (e.g. 003, 000) nor country code.
- id_inconsistent: the century/sex digit or the year digits disagree with the date of birth
  or the sex.
- duplicate: an extra copy of a clean row (same personal_id served twice, another updated_at).
- dob_impossible: a date that does not exist (2023-02-30), one after as_of, or in the 1800s.
- missing_field: full_name, sex or date_of_birth is null.
- wrong_era: a code labelled "2025" that exists only in the 2004 list, or labelled "2004"
  that exists only in the 2025 list.
- sex_invalid: a sex outside "Nam"/"Nữ" ("X", "nam", "M", ...).
"""

from __future__ import annotations

import math
import unicodedata
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registries import admin_units
from registries.population.generator import (
    ERA_2004,
    ERA_2025,
    SECONDS_PER_DAY,
    UPDATE_WINDOW_DAYS,
    CleanPopulation,
    birth_years,
    epoch_day,
    format_timestamps,
)
from registries.population.geography import ProvinceGeography
from registries.population.legacy_text import to_tcvn3_mojibake, to_vni_mojibake

DEFECT_KINDS: tuple[str, ...] = (
    "name_nfd",
    "name_tcvn3",
    "name_vni",
    "id_bad_format",
    "id_bad_province",
    "id_inconsistent",
    "duplicate",
    "dob_impossible",
    "missing_field",
    "wrong_era",
    "sex_invalid",
)
NAME_KINDS = ("name_nfd", "name_tcvn3", "name_vni")
MAX_DEFECT_RATE = 0.5
INVALID_SEX_VALUES = ("X", "nam", "nữ", "NAM", "M", "F", "Khác", "1")
_OCR_LETTERS = "OILSB"  # letters mistaken for 0, 1, 1, 5, 8
_IMPOSSIBLE_MONTH_DAYS = ("02-30", "02-31", "04-31", "06-31", "09-31", "11-31", "13-01", "00-15")


def defect_counts(size: int, defect_rate: float) -> dict[str, int]:
    """Rows of each defect kind: round(size * defect_rate) spread evenly, earlier kinds first."""
    if not 0.0 <= defect_rate <= MAX_DEFECT_RATE:
        raise ValueError(f"defect_rate must be between 0 and {MAX_DEFECT_RATE}, got {defect_rate}")
    total = math.floor(size * defect_rate + 0.5)
    base, extra = divmod(total, len(DEFECT_KINDS))
    return {kind: base + (1 if i < extra else 0) for i, kind in enumerate(DEFECT_KINDS)}


def invalid_id_prefixes() -> tuple[str, ...]:
    """3-digit prefixes that are neither "0" + a pre-2025 province code nor 101-295."""
    valid = {"0" + code for code in admin_units.province_codes("2004")}
    zeros = tuple(f"{i:03d}" for i in range(100) if f"{i:03d}" not in valid)
    return zeros + ("100", "296", "350", "512", "999")


class _Patches:
    """New values for some cells of some columns, applied in one pass per column."""

    def __init__(self) -> None:
        self.cells: dict[str, tuple[list[np.ndarray], list[list[str | None]]]] = {}

    def set(self, column: str, rows: np.ndarray, values: list[str | None]) -> None:
        idx, vals = self.cells.setdefault(column, ([], []))
        idx.append(np.asarray(rows, dtype=np.int64))
        vals.append(list(values))

    def apply(self, table: pa.Table) -> pa.Table:
        for column, (idx_parts, val_parts) in self.cells.items():
            rows = np.concatenate(idx_parts)
            values = [v for part in val_parts for v in part]
            order = np.argsort(rows, kind="stable")
            mask = np.zeros(table.num_rows, dtype=bool)
            mask[rows] = True
            replacement = pa.array([values[i] for i in order], pa.string())
            col = table.column(column).combine_chunks()
            i = table.schema.get_field_index(column)
            table = table.set_column(i, column, pc.replace_with_mask(col, pa.array(mask), replacement))
        return table


class _RowPicker:
    """Draws disjoint sets of rows in one seeded random order, with optional preferences."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.order = rng.permutation(n)
        self.used = np.zeros(n, dtype=bool)

    def take(self, k: int, prefer: np.ndarray | None = None) -> np.ndarray:
        free = self.order[~self.used[self.order]]
        if k > len(free):
            raise ValueError(f"not enough rows for {k} more defects")
        if prefer is None:
            chosen = free[:k]
        else:
            good = free[prefer[free]]
            chosen = (
                good[:k] if len(good) >= k else np.concatenate([good, free[~prefer[free]][: k - len(good)]])
            )
        self.used[chosen] = True
        return chosen


def _strings(table: pa.Table, column: str, rows: np.ndarray) -> list[str]:
    return table.column(column).take(pa.array(rows)).to_pylist()


def inject_defects(
    people: CleanPopulation,
    rng: np.random.Generator,
    counts: dict[str, int],
    geo: ProvinceGeography,
    as_of: date,
) -> pa.Table:
    """The clean table with `counts` defects of each kind and the `_defect` column.

    Returns len(people) + counts["duplicate"] rows, the duplicate copies placed at random
    positions among the others.
    """
    table, n = people.table, people.table.num_rows
    picker = _RowPicker(rng, n)
    patches = _Patches()
    label = np.full(n, -1, dtype=np.int8)
    rows: dict[str, np.ndarray] = {}
    for i, kind in enumerate(DEFECT_KINDS):
        prefer = people.non_ascii_name if kind in NAME_KINDS else None
        rows[kind] = picker.take(counts.get(kind, 0), prefer)
        if kind != "duplicate":
            label[rows[kind]] = i

    names_rows = rows["name_nfd"]
    patches.set(
        "full_name",
        names_rows,
        [unicodedata.normalize("NFD", s) for s in _strings(table, "full_name", names_rows)],
    )
    patches.set(
        "full_name", rows["name_tcvn3"], to_tcvn3_mojibake(_strings(table, "full_name", rows["name_tcvn3"]))
    )
    patches.set(
        "full_name",
        rows["name_vni"],
        [to_vni_mojibake(s) for s in _strings(table, "full_name", rows["name_vni"])],
    )
    patches.set(
        "personal_id",
        rows["id_bad_format"],
        _bad_format_ids(rng, _strings(table, "personal_id", rows["id_bad_format"])),
    )
    prefixes = invalid_id_prefixes()
    bad = rows["id_bad_province"]
    patches.set(
        "personal_id",
        bad,
        [
            prefixes[p] + s[3:]
            for p, s in zip(
                rng.integers(0, len(prefixes), len(bad)), _strings(table, "personal_id", bad), strict=True
            )
        ],
    )
    patches.set(
        "personal_id",
        rows["id_inconsistent"],
        _inconsistent_ids(rng, people.id_numbers, rows["id_inconsistent"]),
    )
    patches.set(
        "date_of_birth",
        rows["dob_impossible"],
        _impossible_dates(rng, people.dob_days[rows["dob_impossible"]], as_of),
    )
    missing = rows["missing_field"]
    for j, column in enumerate(("full_name", "sex", "date_of_birth")):
        patches.set(column, missing[j::3], [None] * len(missing[j::3]))
    codes, eras = _wrong_era(rng, geo, len(rows["wrong_era"]))
    patches.set("residence_commune_code", rows["wrong_era"], codes)
    patches.set("residence_code_era", rows["wrong_era"], eras)
    sex = rows["sex_invalid"]
    patches.set(
        "sex", sex, [INVALID_SEX_VALUES[k] for k in rng.integers(0, len(INVALID_SEX_VALUES), len(sex))]
    )

    kinds = pa.array(list(DEFECT_KINDS))
    table = patches.apply(table).append_column(
        "_defect", kinds.take(pa.array(label, mask=label < 0).cast(pa.int32()))
    )
    copies = _duplicates(rng, table, people.dob_days, rows["duplicate"], as_of)
    # Base row i gets the key 2i; a copy gets an odd key, i.e. a random place among them.
    keys = np.concatenate([np.arange(n) * 2, rng.integers(0, n, copies.num_rows) * 2 + 1])
    order = np.argsort(keys, kind="stable")
    return pa.concat_tables([table, copies]).take(pa.array(order))


def _bad_format_ids(rng: np.random.Generator, ids: list[str]) -> list[str]:
    digits = rng.integers(0, 10, (len(ids), 8))
    pos = rng.integers(3, 12, len(ids))
    letters = rng.integers(0, len(_OCR_LETTERS), len(ids))
    out = []
    for j, s in enumerate(ids):
        variant = j % 4
        if variant == 0:
            out.append(s[:-1])  # 11 digits
        elif variant == 1:
            out.append(s + str(digits[j, 0]))  # 13 digits
        elif variant == 2:
            p = int(pos[j])
            out.append(s[:p] + _OCR_LETTERS[letters[j]] + s[p + 1 :])
        else:
            out.append("38" + "".join(str(d) for d in digits[j, 1:]))  # legacy 9-digit CMND
    return out


def _inconsistent_ids(rng: np.random.Generator, all_ids: np.ndarray, rows: np.ndarray) -> list[str]:
    """Personal IDs whose digits 4-6 no longer agree with the sex or the date of birth."""
    ids = all_ids[rows].copy()
    century_sex = (ids // 10**8) % 10
    year2 = (ids // 10**6) % 100
    variant = np.arange(len(ids)) % 3
    new_cs = np.where(
        variant == 0, century_sex ^ 1, np.where(variant == 1, (century_sex + 2) % 4, century_sex)
    )
    new_year = np.where(variant == 2, (year2 + rng.integers(1, 10, len(ids))) % 100, year2)
    base = (ids // 10**9) * 10**9 + new_cs * 10**8 + new_year * 10**6
    new = base + ids % 10**6
    taken = np.sort(all_ids)
    while len(new):
        pos = np.minimum(np.searchsorted(taken, new), len(taken) - 1)
        clash = (taken[pos] == new) | _repeated(new)
        if not clash.any():
            break
        new[clash] = base[clash] + rng.integers(0, 10**6, int(clash.sum()))
    return [f"{v:012d}" for v in new]


def _repeated(values: np.ndarray) -> np.ndarray:
    out = np.ones(len(values), dtype=bool)
    out[np.unique(values, return_index=True)[1]] = False
    return out


def _impossible_dates(rng: np.random.Generator, dob_days: np.ndarray, as_of: date) -> list[str]:
    years = birth_years(dob_days)
    month_day = rng.integers(0, len(_IMPOSSIBLE_MONTH_DAYS), len(years))
    ahead = rng.integers(365, 5 * 365, len(years))
    old_year, old_month, old_day = (
        rng.integers(1800, 1900, len(years)),
        rng.integers(1, 13, len(years)),
        rng.integers(1, 29, len(years)),
    )
    out = []
    for j in range(len(years)):
        variant = j % 3
        if variant == 0:
            out.append(f"{years[j]:04d}-{_IMPOSSIBLE_MONTH_DAYS[month_day[j]]}")
        elif variant == 1:
            out.append((as_of + timedelta(days=int(ahead[j]))).isoformat())
        else:
            out.append(f"{old_year[j]:04d}-{old_month[j]:02d}-{old_day[j]:02d}")
    return out


def _wrong_era(rng: np.random.Generator, geo: ProvinceGeography, k: int) -> tuple[list[str], list[str]]:
    """Codes labelled with the era they do not belong to (only-2004 as "2025" and back)."""
    if k == 0:
        return [], []
    if not geo.only_in_2004 and not geo.only_in_2025:
        raise ValueError(f"province {geo.province_code}: no code exists in only one era's list")
    codes, eras = [], []
    old_pick = rng.integers(0, max(len(geo.only_in_2004), 1), k)
    new_pick = rng.integers(0, max(len(geo.only_in_2025), 1), k)
    for j in range(k):
        use_new = bool(geo.only_in_2025) and (j % 2 == 1 or not geo.only_in_2004)
        if use_new:
            codes.append(geo.only_in_2025[new_pick[j]])
            eras.append(ERA_2004)
        else:
            codes.append(geo.only_in_2004[old_pick[j]])
            eras.append(ERA_2025)
    return codes, eras


def _duplicates(
    rng: np.random.Generator, table: pa.Table, dob_days: np.ndarray, rows: np.ndarray, as_of: date
) -> pa.Table:
    """Copies of clean rows with another updated_at (the same person served twice)."""
    copies = table.take(pa.array(rows, pa.int64()))
    as_of_s = epoch_day(as_of) * SECONDS_PER_DAY
    lo = np.maximum(as_of_s - UPDATE_WINDOW_DAYS * SECONDS_PER_DAY, dob_days[rows] * SECONDS_PER_DAY)
    updated = rng.integers(lo, as_of_s) if len(rows) else np.zeros(0, np.int64)
    i = copies.schema.get_field_index("updated_at")
    copies = copies.set_column(i, "updated_at", format_timestamps(updated))
    i = copies.schema.get_field_index("_defect")
    return copies.set_column(i, "_defect", pa.array(["duplicate"] * len(rows), pa.string()))
