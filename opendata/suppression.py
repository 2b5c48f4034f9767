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

Linked tables (`suppress_linked`): tables published from the same units (the same measure
over the same people, e.g. population by commune x sex x age and coverage by commune x age x
card) agree once summed down to the dimensions they share, so an attacker can difference one
against the other. A `Link` states that agreement (a key function per table mapping a cell
to its shared-dimensions key); the audit then solves every linked table together (each
table's published cells and margins, plus one equation per shared key) and hides more cells
- first a cell of the same row or column with the same shared key, else a cell of the other
table under that key - until no suppressed cell of any table is pinned down. With links the
constraint matrix is no longer a two-way table's, so the LP bounds are the linear relaxation
(what the issue's audit asks for; an integer attacker can at most round them inwards).

Everything here is plain functions over dicts; `opendata.indicators` builds the tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
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


@dataclass(frozen=True)
class Link:
    """Tables `a` and `b` (indexes into the list given to `suppress_linked`) count the same
    units: for every shared key k, the sum of a's cells with key_a(cell) == k equals the sum
    of b's cells with key_b(cell) == k."""
    a: int
    b: int
    key_a: Callable[[Cell], Hashable]
    key_b: Callable[[Cell], Hashable]

    def holds(self, tables: list[SuppressedTable]) -> bool:
        """Do the true counts agree (only then can an attacker equate them)?"""
        return _sums(tables[self.a], self.key_a) == _sums(tables[self.b], self.key_b)


def _sums(t: SuppressedTable, key: Callable[[Cell], Hashable]) -> dict[Hashable, int]:
    out: Counter[Hashable] = Counter()
    for cell, v in t.counts.items():
        out[key(cell)] += v
    return {k: v for k, v in out.items() if v}


def _table_system(t: SuppressedTable, index: dict[Hashable, int], ti: int
                  ) -> list[tuple[dict[int, float], float]]:
    """Equations (coefficients by variable, right-hand side) of one table's publication."""
    eqs: list[tuple[dict[int, float], float]] = []
    for axis, lines, hidden_margins, total in ((0, t.rows, t.row_margins_hidden, t.row_total),
                                               (1, t.cols, t.col_margins_hidden, t.col_total)):
        for m in lines:
            coef: dict[int, float] = {}
            known = 0.0
            for other in (t.cols if axis == 0 else t.rows):
                cell = (m, other) if axis == 0 else (other, m)
                if cell in t.suppressed:
                    coef[index[(ti, "cell", cell)]] = 1.0
                else:
                    known += t.counts.get(cell, 0)
            rhs = -known
            if m in hidden_margins:
                coef[index[(ti, "row" if axis == 0 else "col", m)]] = -1.0
            else:
                rhs += total(m)
            if coef:
                eqs.append((coef, rhs))
    for kind, margins, every, total in (
            ("row", t.row_margins_hidden, t.rows, t.row_total),
            ("col", t.col_margins_hidden, t.cols, t.col_total)):
        if margins and not t.grand_hidden:  # hidden margins sum to the published grand total
            known = sum(total(m) for m in every if m not in margins)
            eqs.append(({index[(ti, kind, m)]: 1.0 for m in margins}, t.grand_total - known))
    return eqs


def _link_system(tables: list[SuppressedTable], link: Link, index: dict[Hashable, int]
                 ) -> list[tuple[dict[int, float], float]]:
    """One equation per shared key: a's cells under it minus b's cells under it = 0."""
    by_key: dict[Hashable, tuple[dict[int, float], float]] = {}
    for ti, key, sign in ((link.a, link.key_a, 1.0), (link.b, link.key_b, -1.0)):
        t = tables[ti]
        for cell, v in t.counts.items():
            coef, rhs = by_key.setdefault(key(cell), ({}, 0.0))
            if cell in t.suppressed:
                i = index[(ti, "cell", cell)]
                coef[i] = coef.get(i, 0.0) + sign
            else:
                by_key[key(cell)] = (coef, rhs - sign * v)
    return [(coef, rhs) for coef, rhs in by_key.values() if coef]


def _rectangle_keeps_links(tables: list[SuppressedTable], links: list[Link], ti: int,
                           plus: list[Cell], minus: list[Cell]) -> bool:
    for link in links:
        for side, key in ((link.a, link.key_a), (link.b, link.key_b)):
            if side == ti and Counter(map(key, plus)) != Counter(map(key, minus)):
                return False
    return True


def _rectangle_protected(t: SuppressedTable, tables: list[SuppressedTable] | None = None,
                         links: list[Link] | None = None, ti: int = 0) -> set[Cell]:
    """Hidden cells proven to vary by a rectangle of hidden cells (r,c) (r,c2) (r2,c) (r2,c2):
    adding 1 to (r,c) and (r2,c2) and taking 1 from the other two keeps every published
    number (and, with links, every shared-key sum, checked), so if those two are at least 1
    (or, the other way, (r,c) and (r2,c2) are), the cell's range is at least 1. A cheap
    proof that spares most linear programs."""
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
                if links and not _rectangle_keeps_links(
                        tables or [t], links, ti, [(r, c), (r2, c2)], [(r, c2), (r2, c)]):
                    continue
                if (v.get((r, c2), 0) >= 1 and v.get((r2, c), 0) >= 1) or \
                        (v.get((r, c), 0) >= 1 and v.get((r2, c2), 0) >= 1):
                    found = True
                    break
        if found:
            safe.add((r, c))
    return safe


def exposed_linked(tables: list[SuppressedTable], links: list[Link]) -> list[tuple[int, Cell]]:
    """(table, cell) of the suppressed cells whose value everything published - every
    table's cells and margins, and the links' shared sums - pins down (range under 1)."""
    index: dict[Hashable, int] = {}
    for ti, t in enumerate(tables):
        for cell in sorted(t.suppressed, key=repr):
            index[(ti, "cell", cell)] = len(index)
        for r in sorted(t.row_margins_hidden, key=repr):
            index[(ti, "row", r)] = len(index)
        for c in sorted(t.col_margins_hidden, key=repr):
            index[(ti, "col", c)] = len(index)
    hidden = [(ti, cell) for ti, t in enumerate(tables) for cell in sorted(t.suppressed, key=repr)]
    if not hidden:
        return []
    eqs = [eq for ti, t in enumerate(tables) for eq in _table_system(t, index, ti)]
    for link in links:
        eqs.extend(_link_system(tables, link, index))
    n = len(index)
    # sparse, built once: HiGHS takes it as is (a dense matrix was converted again for each
    # of the two LPs per hidden cell, which took minutes on the default run's population)
    rows_, cols_, vals = [], [], []
    for i, (coef, _) in enumerate(eqs):
        for j, a in coef.items():
            rows_.append(i)
            cols_.append(j)
            vals.append(a)
    matrix = sparse.csc_matrix((vals, (rows_, cols_)), shape=(len(eqs), n))
    rhs = np.array([b for _, b in eqs])
    eq = {"A_eq": matrix, "b_eq": rhs} if eqs else {}
    proven = {(ti, cell) for ti, t in enumerate(tables)
              for cell in _rectangle_protected(t, tables, links, ti)}
    exposed = []
    for ti, cell in hidden:
        if (ti, cell) in proven:
            continue
        objective = np.zeros(n)
        objective[index[(ti, "cell", cell)]] = 1
        low = linprog(objective, bounds=(0, None), method="highs", **eq)
        high = linprog(-objective, bounds=(0, None), method="highs", **eq)
        if low.status != 0 or high.status not in (0, 3):  # 3: unbounded above, protected
            raise RuntimeError(f"suppression audit LP failed for {cell!r}: {low.message}")
        if high.status == 0 and -high.fun - low.fun < 1 - 1e-6:
            exposed.append((ti, cell))
    return exposed


def exposed_cells(t: SuppressedTable) -> list[Cell]:
    """Suppressed cells whose value the published numbers pin down (range under 1)."""
    return [cell for _, cell in exposed_linked([t], [])]


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
        for n, cell in enumerate(exposed):  # one fix per row/column per pass, then audit again
            if ("r", cell[0]) in touched or ("c", cell[1]) in touched:
                continue
            touched |= {("r", cell[0]), ("c", cell[1])}
            try:
                _protect(t, cell)
            except RuntimeError:
                if n == 0:  # nothing else changed this pass: truly stuck
                    raise
                break  # an earlier fix this pass may have protected it: audit again
    return t


def _protect(t: SuppressedTable, cell: Cell) -> None:
    """Hide one more thing around an exposed cell: a cell of its row or column; else its
    row's margin with another row's (so the grand total cannot give it back); else the same
    for its column; else the grand total; else its whole row and column; else the whole
    table."""
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
    if rest:
        t.secondary.update(rest)
        return
    # Last resort: hide the whole table (a table with nothing published pins nothing).
    left = {x for x in t.counts if x not in t.suppressed}
    if not left and t.row_margins_hidden >= set(t.rows) and t.col_margins_hidden >= set(t.cols):
        raise RuntimeError(f"cannot protect cell {cell!r}")
    t.secondary.update(left)
    t.row_margins_hidden |= set(t.rows)
    t.col_margins_hidden |= set(t.cols)
    t.grand_hidden = True


def suppress_linked(tables: list[SuppressedTable], links: list[Link]) -> list[SuppressedTable]:
    """Make the suppression of tables (each already `suppress`ed on its own) hold against
    an attacker holding all of them: links whose true sums disagree are dropped (nothing to
    equate), then hide more until `exposed_linked` finds nothing. Changes the tables."""
    links = [link for link in links if link.holds(tables)]
    while exposed := exposed_linked(tables, links):
        touched: set[Hashable] = set()
        for n, (ti, cell) in enumerate(exposed):  # one fix per row/column per pass, re-audit
            if (ti, "r", cell[0]) in touched or (ti, "c", cell[1]) in touched:
                continue
            touched |= {(ti, "r", cell[0]), (ti, "c", cell[1])}
            try:
                _protect_linked(tables, links, ti, cell)
            except RuntimeError:
                if n == 0:  # nothing else changed this pass: truly stuck
                    raise
                break  # an earlier fix this pass may have protected it: audit again
    return tables


def _protect_linked(tables: list[SuppressedTable], links: list[Link], ti: int, cell: Cell
                    ) -> None:
    """Hide one more thing for an exposed cell of table `ti`: a published positive cell of
    its row or column with the same shared key (the difference then stays inside one key);
    else one of a linked table under the cell's key; else what `_protect` does in the
    cell's own table; else a zero cell of a linked table under the key; else what `_protect`
    does in that table (a table hidden whole still has its shared sums pinned by the other)."""
    t = tables[ti]
    mine = [(link.key_a if link.a == ti else link.key_b) for link in links if ti in (link.a, link.b)]
    r, c = cell
    line = [(r, c2) for c2 in t.cols if c2 != c] + [(r2, c) for r2 in t.rows if r2 != r]
    same_key = [x for x in line if x not in t.suppressed and t.counts.get(x, 0) > 0
                and all(key(x) == key(cell) for key in mine)]
    if mine and same_key:
        t.secondary.add(min(same_key, key=lambda x: (t.counts[x], repr(x))))
        return
    partners: list[tuple[SuppressedTable, Cell]] = []
    for link in links:
        if ti in (link.a, link.b):
            key, oi, other_key = ((link.key_a, link.b, link.key_b) if link.a == ti
                                  else (link.key_b, link.a, link.key_a))
            partners += [(tables[oi], x) for x in tables[oi].counts if other_key(x) == key(cell)]
    positive = [(o, x) for o, x in partners if x not in o.suppressed and o.counts[x] > 0]
    if positive:
        o, x = min(positive, key=lambda p: (p[0].counts[p[1]], repr(p[1])))
        o.secondary.add(x)
        return
    try:
        _protect(t, cell)
        return
    except RuntimeError:
        if not partners:
            raise
    zeros = [(o, x) for o, x in partners if x not in o.suppressed]
    if zeros:
        o, x = min(zeros, key=lambda p: repr(p[1]))
        o.secondary.add(x)
        return
    for o, x in partners:
        try:
            _protect(o, x)
            return
        except RuntimeError:
            continue
    raise RuntimeError(f"cannot protect cell {cell!r} of linked table {ti}")
