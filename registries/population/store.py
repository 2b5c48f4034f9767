"""The in-memory state of the simulated population registry: paged reads and time passing.

The state is one Arrow table (the public record columns, `_defect`, `_seq`) plus numpy arrays
of what queries and updates need: the sorted `_seq` keys, updated_at as epoch seconds, dates
of birth, and which rows are alive, clean and heads of household.

- `page()` is keyset paging on `_seq` with an optional updated_at window
  (updated_since < updated_at <= updated_until). A wide window is scanned forward from the
  cursor in growing chunks with numpy masks; a narrow one (under 5 % of the rows, e.g. an
  incremental pull) is read from an index of the rows by updated_at. Either way a page costs
  about the same at the start and the end of 1.2 M rows.
- `advance()` moves the simulated clock forward and applies births, deaths and moves, each
  stamped with an updated_at inside the new period; deterministic for a seed and a sequence
  of calls (the n-th call draws from a generator seeded with (seed, n)).

All methods are thread-safe (one lock); a page never sees half an update.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registries.population import names
from registries.population.generator import (
    ALIVE,
    DEAD,
    ERA_2025,
    FEMALE,
    MALE,
    PUBLIC_COLUMNS,
    SECONDS_PER_DAY,
    addresses,
    draw_family_names,
    epoch_day,
    format_dates,
    format_numbers,
    format_timestamps,
    full_names,
    generate_population,
    parse_as_of,
    personal_id_numbers,
    vocabulary,
)
from registries.population.geography import province_geography
from registries.population.json_rows import plain_rows

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
_FIRST_CHUNK = 65_536
_SPARSE = 20  # a window holding under 1/20 of the rows is read from the updated_at index
_ELDERLY_DAYS = 60 * 365


class AdvanceError(ValueError):
    """An advance() that cannot be applied (bad numbers, not enough people to change)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class Page:
    records: pa.Table
    """The page's rows, public columns only, in `_seq` order."""
    last_seq: int | None
    """`_seq` of the last row when more rows follow (the next cursor), else None."""
    plain: np.ndarray
    """Per row: no value holds a character JSON must escape (see json_rows)."""


@dataclass(frozen=True)
class AdvanceResult:
    clock: datetime
    changed: int
    births: int
    deaths: int
    moves: int


def to_epoch_seconds(moment: datetime) -> int:
    """A datetime as epoch seconds (naive = UTC), rounded down to the second."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() // 1)


class PopulationStore:
    """The registry's state. Build it with `PopulationStore.generate(...)` or from a table."""

    def __init__(
        self,
        table: pa.Table,
        *,
        seed: int = 0,
        as_of: str | date | datetime = "2026-11-01",
        province_code: str = "96",
    ) -> None:
        missing = [c for c in (*PUBLIC_COLUMNS, "_defect", "_seq") if c not in table.column_names]
        if missing:
            raise ValueError(f"population table lacks columns {missing}")
        self._lock = threading.Lock()
        self._seed = seed
        self._geo = province_geography(province_code)
        self._advances = 0
        self._clock = epoch_day(parse_as_of(as_of)) * SECONDS_PER_DAY
        table = table.combine_chunks()
        order = np.argsort(table.column("_seq").to_numpy(), kind="stable")
        if not np.array_equal(order, np.arange(table.num_rows)):
            table = table.take(pa.array(order))
        self._table = table
        self._seq = table.column("_seq").to_numpy().astype(np.int64)
        self._updated = _epoch_seconds(table.column("updated_at"))
        clean = pc.is_null(table.column("_defect"))
        dup_ids = table.filter(pc.equal(table.column("_defect"), "duplicate")).column("personal_id")
        clean = pc.and_(clean, pc.invert(pc.is_in(table.column("personal_id"), dup_ids)))
        self._clean = _bools(clean)
        self._alive = _bools(pc.equal(table.column("status"), ALIVE))
        self._head = _bools(pc.equal(table.column("relation_to_head"), names.HEAD))
        self._era_2025 = _bools(pc.equal(table.column("residence_code_era"), ERA_2025))
        self._male = _bools(pc.equal(table.column("sex"), MALE))
        self._dob_days = _epoch_days(table.column("date_of_birth"), self._clean)
        self._ids = _sorted_id_numbers(table.column("personal_id"))
        self._plain = plain_rows(table.select(list(PUBLIC_COLUMNS)))
        self._index_updated()

    @classmethod
    def generate(
        cls,
        size: int,
        seed: int = 42,
        defect_rate: float = 0.03,
        as_of: str | date | datetime = "2026-11-01",
        province_code: str = "96",
    ) -> PopulationStore:
        """A registry holding `generate_population(size, seed, defect_rate, as_of, ...)`."""
        table = generate_population(size, seed, defect_rate, as_of, province_code)
        return cls(table, seed=seed, as_of=as_of, province_code=province_code)

    # --- reads ----------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return self._table.num_rows

    @property
    def clock(self) -> datetime:
        """The simulated present: as_of at first, moved forward by advance()."""
        return datetime.fromtimestamp(self._clock, UTC)

    @property
    def table(self) -> pa.Table:
        """The whole state, internal columns included (a consistent snapshot)."""
        with self._lock:
            return self._table

    def page(
        self,
        updated_since: datetime | None = None,
        updated_until: datetime | None = None,
        after_seq: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Page:
        """Up to page_size rows with _seq > after_seq and updated_since < updated_at <=
        updated_until (either bound optional), in _seq order."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        lo = None if updated_since is None else to_epoch_seconds(updated_since)
        hi = None if updated_until is None else to_epoch_seconds(updated_until)
        with self._lock:
            table, seq, updated, plain = self._table, self._seq, self._updated, self._plain
            by_updated, updated_sorted = self._by_updated, self._updated_sorted
        start = int(np.searchsorted(seq, after_seq, side="right"))
        want = page_size + 1  # one more tells whether another page follows
        if lo is None and hi is None:
            idx = np.arange(start, min(start + want, len(seq)))
        else:
            first = 0 if lo is None else int(np.searchsorted(updated_sorted, lo, side="right"))
            last = len(seq) if hi is None else int(np.searchsorted(updated_sorted, hi, "right"))
            if last - first <= len(seq) // _SPARSE:
                # Few rows in the window: take them from the updated_at index.
                hits = np.sort(by_updated[first:last])
                at = int(np.searchsorted(hits, start))
                idx = hits[at : at + want]
            else:
                idx = _scan(updated, start, want, lo, hi)
        more = len(idx) > page_size
        idx = idx[:page_size]
        public = table.select(list(PUBLIC_COLUMNS))
        if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
            records = public.slice(int(idx[0]), len(idx))
        else:
            records = public.take(pa.array(idx, pa.int64()))
        return Page(records=records, last_seq=int(seq[idx[-1]]) if more else None, plain=plain[idx])

    # --- time passing ---------------------------------------------------------------------

    def advance(self, days: int, births: int = 0, deaths: int = 0, moves: int = 0) -> AdvanceResult:
        """Move the clock `days` forward: `births` new people in existing households,
        `deaths` people die, `moves` people move to another 2025 commune. Every new or changed
        row gets an updated_at in (old clock, new clock]."""
        for name, value, low in (
            ("days", days, 1),
            ("births", births, 0),
            ("deaths", deaths, 0),
            ("moves", moves, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise AdvanceError(name, f"must be an integer >= {low}, got {value!r}")
        with self._lock:
            rng = np.random.default_rng([self._seed, 0x5EED, self._advances])
            t0, t1 = self._clock, self._clock + days * SECONDS_PER_DAY
            changeable = self._clean & self._alive
            today = t0 // SECONDS_PER_DAY
            elderly = np.flatnonzero(changeable & (today - self._dob_days >= _ELDERLY_DAYS))
            pool = elderly if len(elderly) >= deaths else np.flatnonzero(changeable)
            dying = _choose(rng, pool, deaths, "deaths")
            changeable[dying] = False
            moving = _choose(rng, np.flatnonzero(changeable), moves, "moves")
            heads = np.flatnonzero(self._clean & self._alive & self._head & self._era_2025)
            if births and not len(heads):
                raise AdvanceError("births", "no household to add them to")
            parents = heads[rng.integers(0, len(heads), births)] if births else heads[:0]

            table, updated = self._table, self._updated.copy()
            death_at = rng.integers(t0 + 1, t1 + 1, len(dying))
            died_on = rng.integers(t0 + 1, death_at + 1) // SECONDS_PER_DAY
            move_at = rng.integers(t0 + 1, t1 + 1, len(moving))
            updated[dying], updated[moving] = death_at, move_at
            table = _replace(
                table,
                {
                    "status": (dying, pa.array([DEAD] * len(dying), pa.string())),
                    "date_of_death": (dying, format_dates(died_on)),
                    "updated_at": (
                        np.concatenate([dying, moving]),
                        format_timestamps(np.concatenate([death_at, move_at])),
                    ),
                    **self._moves(rng, table, moving),
                },
            )
            born, born_at, born_days, born_male, born_ids = self._births(rng, table, parents, t0, t1)
            self._table = pa.concat_tables([table, born]).combine_chunks()
            moved_plain = plain_rows(table.select(list(PUBLIC_COLUMNS)).take(pa.array(moving)))
            self._plain = self._plain.copy()
            self._plain[moving] = moved_plain
            self._plain = np.concatenate([self._plain, plain_rows(born.select(list(PUBLIC_COLUMNS)))])
            self._seq = self._table.column("_seq").to_numpy().astype(np.int64)
            self._updated = np.concatenate([updated, born_at])
            self._clean = np.concatenate([self._clean, np.ones(births, dtype=bool)])
            self._alive[dying] = False
            self._alive = np.concatenate([self._alive, np.ones(births, dtype=bool)])
            self._head = np.concatenate([self._head, np.zeros(births, dtype=bool)])
            self._era_2025[moving] = True
            self._era_2025 = np.concatenate([self._era_2025, np.ones(births, dtype=bool)])
            self._male = np.concatenate([self._male, born_male])
            self._dob_days = np.concatenate([self._dob_days, born_days])
            self._ids = np.sort(np.concatenate([self._ids, born_ids]))
            self._index_updated()
            self._clock = t1
            self._advances += 1
            return AdvanceResult(
                clock=self.clock,
                changed=births + len(dying) + len(moving),
                births=births,
                deaths=len(dying),
                moves=len(moving),
            )

    def _index_updated(self) -> None:
        """Row positions by updated_at, to find the rows of a narrow window fast."""
        self._by_updated = np.argsort(self._updated, kind="stable")
        self._updated_sorted = self._updated[self._by_updated]

    def _moves(
        self, rng: np.random.Generator, table: pa.Table, moving: np.ndarray
    ) -> dict[str, tuple[np.ndarray, pa.Array]]:
        """New 2025 commune (never the current one), era and address of the movers."""
        communes = self._geo.communes_2025
        if len(moving) and len(communes) < 2:
            raise AdvanceError("moves", "the province has a single commune")
        current = table.column("residence_commune_code").take(pa.array(moving, pa.int64()))
        cur_idx = (
            pc.fill_null(pc.index_in(current, pa.array(communes)), -1)
            .to_numpy(zero_copy_only=False)
            .astype(np.int64)
        )
        new = rng.integers(0, max(len(communes) - 1, 1), len(moving))
        new = new + ((cur_idx >= 0) & (new >= cur_idx))
        return {
            "residence_commune_code": (moving, pa.array(communes, pa.string()).take(pa.array(new))),
            "residence_code_era": (moving, pa.array([ERA_2025] * len(moving), pa.string())),
            "residence_address": (moving, addresses(rng, self._geo.urban_2025[new])),
        }

    def _births(
        self, rng: np.random.Generator, table: pa.Table, parents: np.ndarray, t0: int, t1: int
    ) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """New clean rows for babies born in (t0, t1] into the households of `parents`."""
        k = len(parents)
        at = rng.integers(t0 + 1, t1 + 1, k)
        dob_days = rng.integers(t0 + 1, at + 1) // SECONDS_PER_DAY if k else at
        male = rng.random(k) < 0.52
        family_idx = draw_family_names(rng, k)
        v = vocabulary()
        index = {name: i for i, name in enumerate(v.family.to_pylist())}
        head_rows = pa.array(parents, pa.int64())
        head_names = table.column("full_name").take(head_rows).to_pylist()
        for j, (name, is_male) in enumerate(zip(head_names, self._male[parents], strict=True)):
            family = name.split(" ", 1)[0] if name else None
            if is_male and family in index:
                family_idx[j] = index[family]
        head_age_days = t0 // SECONDS_PER_DAY - self._dob_days[parents]
        relation = np.where(head_age_days >= 45 * 365, names.GRANDCHILD, names.CHILD)
        prefix = np.full(k, int(self._geo.province_code))
        ids = personal_id_numbers(rng, prefix, dob_days, male, taken=self._ids)
        first_seq = int(self._seq[-1]) + 1 if len(self._seq) else 1
        born = pa.table(
            {
                "personal_id": format_numbers(ids, 12),
                "full_name": full_names(rng, family_idx, male),
                "sex": pc.if_else(pa.array(male, pa.bool_()), MALE, FEMALE),
                "date_of_birth": format_dates(dob_days),
                "ethnicity": table.column("ethnicity").take(head_rows),
                "household_id": table.column("household_id").take(head_rows),
                "relation_to_head": pa.array(relation.tolist(), pa.string()),
                "residence_commune_code": table.column("residence_commune_code").take(head_rows),
                "residence_code_era": pa.array([ERA_2025] * k, pa.string()),
                "residence_address": table.column("residence_address").take(head_rows),
                "status": pa.array([ALIVE] * k, pa.string()),
                "date_of_death": pa.nulls(k, pa.string()),
                "updated_at": format_timestamps(at),
                "_defect": pa.nulls(k, pa.string()),
                "_seq": pa.array(np.arange(first_seq, first_seq + k), pa.int64()),
            }
        )
        return born.cast(table.schema), at, dob_days, male, ids


def _bools(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(bool)


def _epoch_seconds(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """updated_at strings ("...Z") as epoch seconds."""
    stamps = pc.cast(values, pa.timestamp("s", tz="UTC"))
    return pc.fill_null(stamps.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)


def _epoch_days(values: pa.Array | pa.ChunkedArray, valid: np.ndarray) -> np.ndarray:
    """Dates of birth as epoch days; rows not `valid` (defects may hold impossible dates) get
    a placeholder and are never used."""
    usable = pc.if_else(pa.array(valid), values, "1970-01-01")
    days = pc.fill_null(pc.cast(usable, pa.date32()), date(1970, 1, 1)).cast(pa.int32())
    return days.to_numpy(zero_copy_only=False).astype(np.int64)


def _sorted_id_numbers(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The 12-digit personal IDs in use, as a sorted int64 array."""
    numeric = pc.filter(values, pc.match_substring_regex(values, r"^[0-9]{12}$"))
    return np.sort(pc.cast(numeric, pa.int64()).to_numpy(zero_copy_only=False))


def _scan(updated: np.ndarray, start: int, want: int, lo: int | None, hi: int | None) -> np.ndarray:
    """Positions >= start with lo < updated <= hi, the first `want` of them."""
    found: list[np.ndarray] = []
    count, chunk, n = 0, max(_FIRST_CHUNK, 4 * want), len(updated)
    while start < n and count < want:
        end = min(start + chunk, n)
        window = updated[start:end]
        mask = np.ones(end - start, dtype=bool)
        if lo is not None:
            mask &= window > lo
        if hi is not None:
            mask &= window <= hi
        hits = np.flatnonzero(mask) + start
        found.append(hits)
        count += len(hits)
        start, chunk = end, chunk * 2
    idx = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return idx[:want]


def _choose(rng: np.random.Generator, pool: np.ndarray, k: int, what: str) -> np.ndarray:
    if k > len(pool):
        raise AdvanceError(what, f"asked for {k}, only {len(pool)} people can change")
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(pool, size=k, replace=False))


def _replace(table: pa.Table, changes: dict[str, tuple[np.ndarray, pa.Array]]) -> pa.Table:
    """The table with some cells of some columns replaced (rows, values per column)."""
    for column, (rows, values) in changes.items():
        if not len(rows):
            continue
        order = np.argsort(rows, kind="stable")
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[rows] = True
        i = table.schema.get_field_index(column)
        new = pc.replace_with_mask(
            table.column(column).combine_chunks(), pa.array(mask), values.take(pa.array(order))
        )
        table = table.set_column(i, column, new)
    return table
