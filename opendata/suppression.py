"""Small-count suppression of a two-way table of counts published with its margins (row
totals, column totals, grand total).

- Primary: a cell with 0 < count < threshold is suppressed; so is a margin (row or column
  total, grand total) under the threshold.
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


def _rectangle_protected(t: SuppressedTable) -> set[Cell]:
    """Hidden cells proven to vary by a rectangle of hidden cells (r,c) (r,c2) (r2,c) (r2,c2):
    adding 1 to (r,c) and (r2,c2) and taking 1 from the other two keeps every published
    number, so if those two are at least 1 (or, the other way, (r,c) and (r2,c2) are), the
    cell's range is at least 1. A cheap proof that spares most linear programs."""
    by_row: dict[Row, set[Col]] = {}
    by_col: dict[Col, set[Row]] = {}
    for r, c in t.suppressed:
        by_row.setdefault(r, set()).add(c)
        by_col.setdefault(c, set()).add(r)
    v = t.counts
    safe = set()
    for r, c in t.suppressed:
        found = False
        for r2 in by_col[c]:
            if r2 == r or found:
                continue
            for c2 in by_row[r] & by_row[r2]:
                if c2 == c:
                    continue
                if (v.get((r, c2), 0) >= 1 and v.get((r2, c), 0) >= 1) or \
                        (v.get((r, c), 0) >= 1 and v.get((r2, c2), 0) >= 1):
                    found = True
                    break
        if found:
            safe.add((r, c))
    return safe


def exposed_cells(t: SuppressedTable) -> list[Cell]:
    """Suppressed cells whose value the published numbers pin down (range under 1)."""
    hidden = sorted(t.suppressed, key=repr)
    if not hidden:
        return []
    proven = _rectangle_protected(t)
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
    matrix = np.array(a_eq) if a_eq else None
    rhs = np.array(b_eq) if b_eq else None
    for cell in hidden:
        if cell in proven:
            continue
        i = index[("cell", cell)]
        objective = np.zeros(n)
        objective[i] = 1
        eq = {"A_eq": matrix, "b_eq": rhs} if a_eq else {}
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
    candidates = [x for x in candidates if x not in t.suppressed and t.counts.get(x, 0) > 0] or \
        [x for x in candidates if x not in t.suppressed]  # a zero helps when nothing else can
    if not candidates:
        return None
    rows_hit = {x[0] for x in t.suppressed}
    cols_hit = {x[1] for x in t.suppressed}
    return min(candidates, key=lambda x: (t.counts.get(x, 0),
                                          -((x[0] in rows_hit) + (x[1] in cols_hit)),
                                           repr(x)))


def suppress(counts: dict[Cell, int], rows: list[Row], cols: list[Col], threshold: int
             ) -> SuppressedTable:
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    t = SuppressedTable(list(rows), list(cols), dict(counts), threshold)
    t.primary = {cell for cell, v in counts.items() if 0 < v < threshold}
    # A margin is a count too: a small row or column total is hidden as well.
    t.row_margins_hidden = {r for r in t.rows if 0 < t.row_total(r) < threshold}
    t.col_margins_hidden = {c for c in t.cols if 0 < t.col_total(c) < threshold}
    t.grand_hidden = 0 < t.grand_total < threshold
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
                    margins = t.row_margins_hidden if axis == 0 else t.col_margins_hidden
                    if not line and len(t.cols if axis == 0 else t.rows) == 1:
                        # a one-cell line: its margin IS the cell; hide the margin, not
                        # cell after cell of the other direction (that hid everything)
                        if cells[0][axis] not in margins:
                            margins.add(cells[0][axis])
                            changed = True
                        continue
                    pick = min(line, key=lambda x: (t.counts[x], repr(x))) if line else extra
                    if pick is not None:
                        t.secondary.add(pick)
                        changed = True
    # Then the audit: protect whatever an attacker could still pin down.
    while exposed := exposed_cells(t):
        touched: set[Hashable] = set()
        for cell in exposed:  # one fix per row/column per pass, then audit again
            if ("r", cell[0]) in touched or ("c", cell[1]) in touched:
                continue
            touched |= {("r", cell[0]), ("c", cell[1])}
            _protect(t, cell)
    return t


def _protect(t: SuppressedTable, cell: Cell) -> None:
    """Hide one more thing around an exposed cell: a cell of its row or column; else its
    row's margin with another row's (so the grand total cannot give it back); else the same
    for its column; else the grand total; else its whole row and column."""
    extra = _extra_cell(t, cell)
    if extra is not None:
        t.secondary.add(extra)
        return
    for hidden, every, key, total in (
            (t.row_margins_hidden, t.rows, cell[0], t.row_total),
            (t.col_margins_hidden, t.cols, cell[1], t.col_total)):
        if key not in hidden:
            hidden.add(key)
            others = [m for m in every if m not in hidden]
            if len(hidden) == 1 and others:
                hidden.add(min(others, key=lambda m: (total(m), repr(m))))
            return
    if not t.grand_hidden:
        t.grand_hidden = True
        return
    rest = {x for x in t.counts if (x[0] == cell[0] or x[1] == cell[1]) and x not in t.suppressed}
    if not rest:
        raise RuntimeError(f"cannot protect cell {cell!r}")
    t.secondary.update(rest)
