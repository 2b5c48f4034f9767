"""Small-count suppression of a two-way table of counts published with its margins (row
totals, column totals, grand total).

- Primary: a cell with 0 < count < threshold is suppressed.
- Secondary: more cells (the smallest positive ones in the same row or column) are
  suppressed until no suppressed cell can be recovered from what is published. "Recovered"
  is decided by an audit that does what an attacker would: for every suppressed cell, the
  smallest and largest value consistent with the published cells and margins and with
  non-negativity (two linear programs, scipy's HiGHS). A cell is protected when that range
  is at least 1 wide (the constraint matrix of a two-way table is totally unimodular, so
  the bounds are integers and the linear relaxation is what an integer attacker gets).
  If a row or column has no cell left to suppress, its margin is suppressed too, and as a
  last resort the grand total (a table whose total is itself a small count).

Everything here is plain functions over dicts; `opendata.indicators` builds the tables.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

Row = Hashable
Col = Hashable
Cell = tuple[Row, Col]


@dataclass
class SuppressedTable:
    rows: list[Row]
    cols: list[Col]
    counts: dict[Cell, int]
    threshold: int
    primary: set[Cell] = field(default_factory=set)
    secondary: set[Cell] = field(default_factory=set)
    row_margins_hidden: set[Row] = field(default_factory=set)
    col_margins_hidden: set[Col] = field(default_factory=set)
    grand_hidden: bool = False
    """Hidden only when nothing else can protect a cell (e.g. a one-cell table)."""

    @property
    def suppressed(self) -> set[Cell]:
        return self.primary | self.secondary

    def row_total(self, r: Row) -> int:
        return sum(self.counts.get((r, c), 0) for c in self.cols)

    def col_total(self, c: Col) -> int:
        return sum(self.counts.get((r, c), 0) for r in self.rows)

    @property
    def grand_total(self) -> int:
        return sum(self.counts.values())


def exposed_cells(t: SuppressedTable) -> list[Cell]:
    """Suppressed cells whose value the published numbers pin down (range under 1)."""
    hidden = sorted(t.suppressed, key=repr)
    if not hidden:
        return []
    hidden_rows = sorted(t.row_margins_hidden, key=repr)
    hidden_cols = sorted(t.col_margins_hidden, key=repr)
    index = {("cell", cell): i for i, cell in enumerate(hidden)}
    index.update({("row", r): len(index) + i for i, r in enumerate(hidden_rows)})
    n = len(index)
    for i, c in enumerate(hidden_cols):
        index[("col", c)] = n + i
    n = len(index)
    a_eq, b_eq = [], []
    for r in t.rows:  # sum of row cells - row margin = 0
        coef = np.zeros(n)
        known = 0.0
        for c in t.cols:
            if (r, c) in t.suppressed:
                coef[index[("cell", (r, c))]] += 1
            else:
                known += t.counts.get((r, c), 0)
        rhs = -known
        if r in t.row_margins_hidden:
            coef[index[("row", r)]] -= 1
        else:
            rhs += t.row_total(r)
        if coef.any():
            a_eq.append(coef)
            b_eq.append(rhs)
    for c in t.cols:
        coef = np.zeros(n)
        known = 0.0
        for r in t.rows:
            if (r, c) in t.suppressed:
                coef[index[("cell", (r, c))]] += 1
            else:
                known += t.counts.get((r, c), 0)
        rhs = -known
        if c in t.col_margins_hidden:
            coef[index[("col", c)]] -= 1
        else:
            rhs += t.col_total(c)
        if coef.any():
            a_eq.append(coef)
            b_eq.append(rhs)
    for kind, margins in (("row", hidden_rows), ("col", hidden_cols)):
        if margins and not t.grand_hidden:  # hidden margins sum to the published grand total
            coef = np.zeros(n)
            known = 0.0
            every = t.rows if kind == "row" else t.cols
            hidden_set = set(margins)
            for m in every:
                if m in hidden_set:
                    coef[index[(kind, m)]] = 1
                else:
                    known += t.row_total(m) if kind == "row" else t.col_total(m)
            a_eq.append(coef)
            b_eq.append(t.grand_total - known)
    exposed = []
    for cell in hidden:
        i = index[("cell", cell)]
        objective = np.zeros(n)
        objective[i] = 1
        eq = {"A_eq": np.array(a_eq), "b_eq": np.array(b_eq)} if a_eq else {}
        low = linprog(objective, bounds=(0, None), method="highs", **eq)
        high = linprog(-objective, bounds=(0, None), method="highs", **eq)
        if low.status != 0 or high.status not in (0, 3):  # 3: unbounded above, protected
            raise RuntimeError(f"suppression audit LP failed for {cell!r}: {low.message}")
        if high.status == 0 and -high.fun - low.fun < 1 - 1e-6:
            exposed.append(cell)
    return exposed


def _extra_cell(t: SuppressedTable, cell: Cell) -> Cell | None:
    """The smallest positive published cell in the cell's row or column (ties: prefer a
    cell whose row and column already hold suppressions, which protects more)."""
    r, c = cell
    candidates = [(r, c2) for c2 in t.cols if c2 != c] + [(r2, c) for r2 in t.rows if r2 != r]
    candidates = [x for x in candidates if x not in t.suppressed and t.counts.get(x, 0) > 0]
    if not candidates:
        return None
    rows_hit = {x[0] for x in t.suppressed}
    cols_hit = {x[1] for x in t.suppressed}
    return min(candidates, key=lambda x: (t.counts[x], -((x[0] in rows_hit) + (x[1] in cols_hit)),
                                           repr(x)))


def suppress(counts: dict[Cell, int], rows: list[Row], cols: list[Col], threshold: int
             ) -> SuppressedTable:
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    t = SuppressedTable(list(rows), list(cols), dict(counts), threshold)
    t.primary = {cell for cell, v in counts.items() if 0 < v < threshold}
    # Secondary, cheap pass first: no row or column with exactly one suppressed cell.
    changed = True
    while changed:
        changed = False
        for axis in (0, 1):
            groups: dict[Hashable, list[Cell]] = {}
            for cell in t.suppressed:
                groups.setdefault(cell[axis], []).append(cell)
            for cells in groups.values():
                if len(cells) == 1:
                    extra = _extra_cell(t, cells[0])
                    line = [x for x in ([(cells[0][0], c) for c in t.cols] if axis == 0
                                        else [(r, cells[0][1]) for r in t.rows])
                            if x not in t.suppressed and t.counts.get(x, 0) > 0]
                    pick = min(line, key=lambda x: (t.counts[x], repr(x))) if line else extra
                    if pick is not None:
                        t.secondary.add(pick)
                        changed = True
    # Then the audit: protect whatever an attacker could still pin down.
    while exposed := exposed_cells(t):
        cell = exposed[0]
        extra = _extra_cell(t, cell)
        if extra is not None:
            t.secondary.add(extra)
        elif cell[0] not in t.row_margins_hidden:
            t.row_margins_hidden.add(cell[0])
        elif cell[1] not in t.col_margins_hidden:
            t.col_margins_hidden.add(cell[1])
        elif not t.grand_hidden:
            t.grand_hidden = True
        else:  # nothing left to hide around it: hide every cell of its row and column
            t.secondary.update(x for x in t.counts if (x[0] == cell[0] or x[1] == cell[1])
                               and t.counts[x] > 0 and x not in t.suppressed)
            if not [x for x in exposed_cells(t) if x == cell]:
                continue
            raise RuntimeError(f"cannot protect cell {cell!r}")
    return t
