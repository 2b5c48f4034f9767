"""The registry state in process: keyset paging, the updated_at window, and advance()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from registries import admin_units
from registries.population.generator import PUBLIC_COLUMNS
from registries.population.store import AdvanceError, PopulationStore
from tests.registries.conftest import AS_OF, SEED, SIZE

CLOCK = datetime.fromisoformat(AS_OF).replace(tzinfo=UTC)


def store() -> PopulationStore:
    return PopulationStore.generate(SIZE, seed=SEED, as_of=AS_OF)


def pull(s: PopulationStore, page_size: int, **window: datetime | None) -> list[dict]:
    out, after = [], 0
    while True:
        page = s.page(after_seq=after, page_size=page_size, **window)
        assert page.records.column_names == list(PUBLIC_COLUMNS)
        assert page.records.num_rows <= page_size
        out += page.records.to_pylist()
        if page.last_seq is None:
            return out
        assert page.records.num_rows == page_size
        after = page.last_seq


def public(table: pa.Table) -> list[dict]:
    return table.select(list(PUBLIC_COLUMNS)).to_pylist()


@pytest.mark.parametrize("page_size", [1, 7, 1000, 2000, 10_000])
def test_paging_returns_every_row_once_in_order(population: pa.Table, page_size: int) -> None:
    s = PopulationStore(population, seed=SEED, as_of=AS_OF)
    if page_size == 1:
        first = s.page(page_size=1)
        assert first.records.num_rows == 1 and first.last_seq == 1
        return
    assert pull(s, page_size) == public(population)


def test_window_is_exclusive_then_inclusive(population: pa.Table) -> None:
    s = PopulationStore(population, seed=SEED, as_of=AS_OF)
    stamps = sorted(population["updated_at"].to_pylist())
    since = datetime.fromisoformat(stamps[500])
    until = datetime.fromisoformat(stamps[1500])
    got = pull(s, 100, updated_since=since, updated_until=until)
    expected = [r for r in public(population) if stamps[500] < r["updated_at"] <= stamps[1500]]
    assert got == expected
    assert not any(r["updated_at"] == stamps[500] for r in got)
    assert any(r["updated_at"] == stamps[1500] for r in got)
    # A narrow window (under 5 % of the rows) is read from the updated_at index instead.
    narrow = pull(
        s,
        7,
        updated_since=datetime.fromisoformat(stamps[1900]),
        updated_until=datetime.fromisoformat(stamps[1950]),
    )
    assert narrow == [r for r in public(population) if stamps[1900] < r["updated_at"] <= stamps[1950]]
    assert 40 <= len(narrow) <= 50
    assert len(pull(s, 1000, updated_until=CLOCK)) == SIZE
    assert pull(s, 1000, updated_since=CLOCK) == []
    # Naive datetimes are UTC; fractions of a second round the right way.
    assert (
        len(
            pull(
                s,
                1000,
                updated_since=since.replace(tzinfo=None) - timedelta(microseconds=1),
                updated_until=since + timedelta(microseconds=999_999),
            )
        )
        >= 1
    )


def test_advance_changes_exactly_the_reported_rows() -> None:
    s = store()
    before = {r["personal_id"]: r for r in public(s.table) if r["personal_id"]}
    result = s.advance(30, births=50, deaths=20, moves=40)
    assert result.changed == 110
    assert result.clock == CLOCK + timedelta(days=30)
    assert s.clock == result.clock and s.rows == SIZE + 50
    changed = pull(s, 1000, updated_since=CLOCK)
    assert len(changed) == 110
    assert all("2026-11-01T00:00:00Z" < r["updated_at"] <= "2026-12-01T00:00:00Z" for r in changed)
    new = [r for r in changed if r["personal_id"] not in before]
    died = [r for r in changed if r["personal_id"] in before and r["status"] == "Đã mất"]
    moved = [r for r in changed if r["personal_id"] in before and r["status"] == "Còn sống"]
    assert (len(new), len(died), len(moved)) == (50, 20, 40)
    codes_2025 = {c for c, _, _ in admin_units.communes("2025", ["96"])}
    households = {r["household_id"] for r in before.values()}
    for r in new:
        assert r["residence_code_era"] == "2025" and r["residence_commune_code"] in codes_2025
        assert r["household_id"] in households and r["relation_to_head"] in ("Con", "Cháu")
        assert "2026-11-01" <= r["date_of_birth"] <= r["updated_at"][:10]
        assert r["personal_id"][:3] == "096" and r["personal_id"][3] in "23"
        assert r["personal_id"][4:6] == "26" and r["status"] == "Còn sống"
    for r in died:
        assert before[r["personal_id"]]["status"] == "Còn sống"
        assert "2026-11-01" <= r["date_of_death"] <= r["updated_at"][:10]
    for r in moved:
        old = before[r["personal_id"]]
        assert r["residence_commune_code"] != old["residence_commune_code"]
        assert r["residence_commune_code"] in codes_2025 and r["residence_code_era"] == "2025"
    ids = [r["personal_id"] for r in public(s.table)]
    assert len(set(ids)) == len(ids) - 5  # only the 5 injected duplicates repeat an ID
    # The next advance stamps rows after the new clock only.
    s.advance(1, moves=3)
    assert len(pull(s, 1000, updated_since=result.clock)) == 3


def test_advance_is_deterministic() -> None:
    a, b = store(), store()
    for s in (a, b):
        s.advance(10, births=5, deaths=5, moves=5)
        s.advance(20, births=7, deaths=1, moves=9)
    assert a.table.equals(b.table)
    c = PopulationStore.generate(SIZE, seed=SEED + 1, as_of=AS_OF)
    c.advance(10, births=5, deaths=5, moves=5)
    assert not c.table.slice(SIZE - 5).equals(a.table.slice(SIZE - 5))


def test_advance_rejects_what_it_cannot_do() -> None:
    s = store()
    with pytest.raises(AdvanceError, match="days"):
        s.advance(0)
    with pytest.raises(AdvanceError, match="deaths: asked for 100000"):
        s.advance(5, deaths=100_000)
    with pytest.raises(AdvanceError, match="births"):
        s.advance(5, births=-1)
    assert s.clock == CLOCK and s.rows == SIZE


def test_page_size_is_bounded(population: pa.Table) -> None:
    s = PopulationStore(population, seed=SEED, as_of=AS_OF)
    for bad in (0, 10_001):
        with pytest.raises(ValueError, match="page_size"):
            s.page(page_size=bad)
    assert pc.max(population["_seq"]).as_py() == SIZE
    assert s.page(after_seq=SIZE).records.num_rows == 0
