"""Small-count suppression against an adversary. The adversary is written here on its own:
every cell of the table is an unknown, published cells are fixed by their bounds, every
published margin and the grand total are equations, counts are non-negative; for each
suppressed cell it computes the smallest and largest value consistent with all of it. A
cell is recovered when both are equal. Hypothesis draws the tables."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from opendata.suppression import suppress


def adversary(published: dict, row_totals: dict, col_totals: dict, grand: int | None,  # type: ignore[type-arg]
              rows: list, cols: list, suppressed: set) -> dict:  # type: ignore[type-arg]
    """For each suppressed cell, (min, max) consistent with what was published."""
    cells = [(r, c) for r in rows for c in cols]
    pos = {cell: i for i, cell in enumerate(cells)}
    bounds = [(published[cell], published[cell]) if cell in published else (0, None)
              for cell in cells]
    a, b = [], []
    for r, total in row_totals.items():
        a.append([1.0 if cell[0] == r else 0.0 for cell in cells])
        b.append(total)
    for c, total in col_totals.items():
        a.append([1.0 if cell[1] == c else 0.0 for cell in cells])
        b.append(total)
    if grand is not None:
        a.append([1.0] * len(cells))
        b.append(grand)
    out = {}
    for cell in suppressed:
        obj = np.zeros(len(cells))
        obj[pos[cell]] = 1
        eq = {"A_eq": a, "b_eq": b} if a else {}
        lo = linprog(obj, bounds=bounds, method="highs", **eq)
        hi = linprog(-obj, bounds=bounds, method="highs", **eq)
        assert lo.status == 0 and hi.status in (0, 3)  # 3: no upper bound at all
        out[cell] = (lo.fun, -hi.fun if hi.status == 0 else float("inf"))
    return out


def _publish(counts, rows, cols, threshold):  # type: ignore[no-untyped-def]
    t = suppress(counts, rows, cols, threshold)
    published = {cell: v for cell, v in counts.items() if cell not in t.suppressed}
    row_totals = {r: sum(counts[(r, c)] for c in cols) for r in rows if r not in t.row_margins_hidden}
    col_totals = {c: sum(counts[(r, c)] for r in rows) for c in cols if c not in t.col_margins_hidden}
    return t, published, row_totals, col_totals


tables = st.integers(min_value=1, max_value=6).flatmap(
    lambda n_rows: st.integers(min_value=1, max_value=5).flatmap(
        lambda n_cols: st.tuples(
            st.just(n_rows), st.just(n_cols),
            st.lists(st.one_of(st.integers(0, 6), st.integers(0, 60)),
                     min_size=n_rows * n_cols, max_size=n_rows * n_cols))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables, st.integers(min_value=2, max_value=6))
def test_adversary_recovers_no_suppressed_cell(table, threshold) -> None:  # type: ignore[no-untyped-def]
    n_rows, n_cols, values = table
    rows = [f"x{i}" for i in range(n_rows)]
    cols = [f"y{j}" for j in range(n_cols)]
    counts = {(r, c): values[i * n_cols + j] for i, r in enumerate(rows) for j, c in enumerate(cols)}
    t, published, row_totals, col_totals = _publish(counts, rows, cols, threshold)
    # every small count is hidden, margins included; every published number is the true one
    assert {cell for cell, v in counts.items() if 0 < v < threshold} <= t.suppressed
    assert all(not 0 < total < threshold for total in row_totals.values())
    assert all(not 0 < total < threshold for total in col_totals.values())
    assert all(counts[cell] == v for cell, v in published.items())
    grand = None if t.grand_hidden else sum(counts.values())
    ranges = adversary(published, row_totals, col_totals, grand, rows, cols, t.suppressed)
    recovered = {cell: r for cell, r in ranges.items() if r[1] - r[0] < 1 - 1e-6}
    assert recovered == {}, (counts, t.suppressed, recovered)
    for cell, (lo, hi) in ranges.items():
        assert lo - 1e-6 <= counts[cell] <= hi + 1e-6  # the truth is among the possibilities


def test_nothing_small_nothing_suppressed() -> None:
    rows, cols = ["a", "b"], ["u", "v", "w"]
    counts = {(r, c): 10 + i for i, (r, c) in enumerate((r, c) for r in rows for c in cols)}
    t = suppress(counts, rows, cols, 5)
    assert t.suppressed == set() and not t.row_margins_hidden and not t.col_margins_hidden


def test_a_lone_small_cell_gets_a_partner_in_row_and_column() -> None:
    rows, cols = ["a", "b", "c"], ["u", "v", "w"]
    counts = {(r, c): 50 for r in rows for c in cols}
    counts[("a", "u")] = 2
    t = suppress(counts, rows, cols, 5)
    assert t.primary == {("a", "u")}
    assert any(cell[0] == "a" for cell in t.secondary) and any(cell[1] == "u" for cell in t.secondary)
    published = {cell: v for cell, v in counts.items() if cell not in t.suppressed}
    ranges = adversary(published, {r: 150 if r != "a" else 102 for r in rows},
                       {c: 150 if c != "u" else 102 for c in cols}, sum(counts.values()),
                       rows, cols, t.suppressed)
    assert all(hi - lo >= 1 for lo, hi in ranges.values())


def test_a_single_column_table_hides_margins_when_it_must() -> None:
    rows, cols = ["a", "b", "c"], ["only"]
    counts = {("a", "only"): 2, ("b", "only"): 30, ("c", "only"): 40}
    t, published, row_totals, col_totals = _publish(counts, rows, cols, 5)
    ranges = adversary(published, row_totals, col_totals, 72, rows, cols, t.suppressed)
    assert ("a", "only") in t.suppressed
    assert all(hi - lo >= 1 for lo, hi in ranges.values())


def test_a_single_column_table_still_publishes_its_large_counts() -> None:
    """A row of one cell has its margin equal to the cell: hiding the margin protects it;
    hiding the other rows' cells one after another (until all were hidden) is not needed."""
    rows, cols = ["a", "b", "c", "d", "e"], ["only"]
    for small in ({"a": 2, "b": 3}, {"a": 2}):
        counts = {(r, "only"): {**{"c": 30, "d": 40, "e": 50, "a": 0, "b": 0}, **small}[r] for r in rows}
        t, published, row_totals, col_totals = _publish(counts, rows, cols, 5)
        ranges = adversary(published, row_totals, col_totals, sum(counts.values()), rows, cols,
                           t.suppressed)
        assert {(r, "only") for r in small} <= t.suppressed
        assert all(hi - lo >= 1 for lo, hi in ranges.values())
        assert ("e", "only") in published and ("d", "only") in published, t.suppressed
