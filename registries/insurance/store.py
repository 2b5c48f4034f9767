"""The insurance service's member store: window filtering, paging and simulated change.

Members are kept as one Arrow table sorted by (update time, BHXH number), with the update
times as an int64 array of UTC microseconds, so a window (updatedSince exclusive,
updatedUntil inclusive) is two binary searches and a page is a zero-copy slice: the service
answers in O(page) whatever the registry size.

`advance()` simulates time passing at the agency: ordinary cards (not the seeded defects)
renewed for another year, people enrolled (children without a card get a TE card,
uninsured adults a household card), enterprise employees moving to another active
enterprise. Changed rows are stamped with the wall-clock time, so the next incremental pull
after the change sees exactly them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registries.insurance.generator import (
    COLUMNS,
    ICT,
    InsuranceData,
    Uninsured,
    add_years,
    card_for,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _parse_micros(text: str | None) -> int:
    try:
        return _micros(datetime.fromisoformat(str(text)))
    except ValueError:
        return 0


@dataclass
class Change:
    renewed: int = 0
    enrolled: int = 0
    employer_changed: int = 0

    @property
    def changed(self) -> int:
        return self.renewed + self.enrolled + self.employer_changed


class MemberStore:
    def __init__(self, data: InsuranceData, as_of: date, seed: int) -> None:
        self.as_of = as_of
        self.seed = seed
        self.advances = 0
        self.uninsured: list[Uninsured] = list(data.uninsured)
        self.employers = list(data.employers)
        # `_defect` stays in the store (never served): the agency renews ordinary cards only.
        self._set(data.members.select([*COLUMNS, "_defect"]))

    def _set(self, table: pa.Table) -> None:
        stamps = np.array([_parse_micros(t) for t in table.column("updated_at").to_pylist()],
                          dtype=np.int64)
        keys = table.column("bhxh_number").fill_null("").to_numpy(zero_copy_only=False)
        order = np.lexsort((keys, stamps))
        self.table = table.take(pa.array(order))
        self.stamps = stamps[order]

    def __len__(self) -> int:
        return self.table.num_rows

    def window(self, since: datetime | None, until: datetime | None) -> tuple[int, int]:
        """Positions [lo, hi) of the rows updated after `since` up to `until`."""
        lo = 0 if since is None else int(np.searchsorted(self.stamps, _micros(since), "right"))
        hi = len(self) if until is None else int(
            np.searchsorted(self.stamps, _micros(until), "right"))
        return lo, max(lo, hi)

    def rows(self, start: int, stop: int) -> list[dict[str, str | None]]:
        return self.table.slice(start, max(0, stop - start)).to_pylist()

    def advance(self, days: int = 0, renewals: int = 0, enrolments: int = 0,
                employer_changes: int = 0) -> Change:
        """Let `days` pass and make the given numbers of changes (fewer if the registry
        has not enough candidates)."""
        self.advances += 1
        self.as_of += timedelta(days=days)
        rng = random.Random(f"insurance-advance:{self.seed}:{self.advances}")
        now = datetime.now(UTC)
        stamp = iter(now + timedelta(microseconds=i) for i in range(10**9))
        cards = self.table.column("card_number")
        renewable = pc.and_(pc.invert(pc.starts_with(cards, "TE")),
                            pc.is_null(self.table.column("_defect")))
        renewable_idx = np.flatnonzero(renewable.fill_null(False).to_numpy(zero_copy_only=False))
        employed = pc.and_(pc.starts_with(cards, "DN"), pc.is_null(self.table.column("_defect")))
        employed_idx = np.flatnonzero(employed.fill_null(False).to_numpy(zero_copy_only=False))
        chosen_renew = set(rng.sample(sorted(renewable_idx.tolist()),
                                      min(renewals, len(renewable_idx))))
        employed = sorted(set(employed_idx.tolist()) - chosen_renew)
        chosen_employer = set(rng.sample(employed, min(employer_changes, len(employed))))
        changed_rows: list[dict[str, str | None]] = []
        change = Change()
        for i in sorted(chosen_renew | chosen_employer):
            row = self.table.slice(i, 1).to_pylist()[0]
            if i in chosen_renew:
                try:
                    start = date.fromisoformat(str(row["card_valid_to"])) + timedelta(days=1)
                except ValueError:
                    start = self.as_of.replace(day=1)
                row["card_valid_from"] = start.isoformat()
                row["card_valid_to"] = (add_years(start, 1) - timedelta(days=1)).isoformat()
                change.renewed += 1
            else:
                others = [e for e in self.employers if e != row["employer_code"]]
                row["employer_code"] = rng.choice(others)
                change.employer_changed += 1
            row["updated_at"] = next(stamp).astimezone(ICT).isoformat()
            changed_rows.append(row)
        existing = set(self.table.column("bhxh_number").to_pylist())
        for _ in range(min(enrolments, len(self.uninsured))):
            person = self.uninsured.pop(rng.randrange(len(self.uninsured)))
            changed_rows.append(self._enrol(person, existing, rng, next(stamp)))
            change.enrolled += 1
        keep = np.ones(len(self), dtype=bool)
        keep[sorted(chosen_renew | chosen_employer)] = False
        new = pa.Table.from_pylist(changed_rows, schema=self.table.schema)
        self._set(pa.concat_tables([self.table.filter(pa.array(keep)), new]))
        return change

    def _enrol(self, person: Uninsured, existing: set[str], rng: random.Random,
               moment: datetime) -> dict[str, str | None]:
        while True:
            bhxh = person.province + f"{rng.randrange(10**8):08d}"
            if bhxh not in existing:
                existing.add(bhxh)
                break
        born = date.fromisoformat(person.date_of_birth)
        if add_years(born, 6) > self.as_of:
            group, start, end = "TE", born, add_years(born, 6) - timedelta(days=1)
        else:
            group, start = "GD", self.as_of.replace(day=1)
            end = add_years(start, 1) - timedelta(days=1)
        return {
            "bhxh_number": bhxh, "personal_id": person.personal_id,
            "full_name": person.full_name, "date_of_birth": person.date_of_birth,
            "card_number": card_for(group, person.province, bhxh),
            "card_valid_from": start.isoformat(), "card_valid_to": end.isoformat(),
            "employer_code": None, "updated_at": moment.astimezone(ICT).isoformat(),
            "_defect": None,
        }
