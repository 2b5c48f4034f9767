"""The joint suppression of linked open indicators (population x coverage, the two enterprise
tables) over the curated snapshots of an LGSP home: each group's tables as `compute_table`
gives them (each protected on its own), then one joint audit (`exposed_linked`) and the whole
joint protection (`suppress_linked`), timed, with their hidden cells and margins.

Run after a pipeline run into the same home:
    LGSP_HOME=/tmp/h uv run --frozen lgsp run
    LGSP_HOME=/tmp/h uv run --frozen python -m bench suppression
"""

from __future__ import annotations

import time
from typing import Any


def _hidden(tables: list[Any]) -> int:
    return sum(len(t.suppressed) + len(t.row_margins_hidden) + len(t.col_margins_hidden)
               for t in tables)


def run() -> list[dict[str, Any]]:
    from catalog.spec import get_spec
    from lgsp.config import Settings
    from opendata.exports import current_snapshot
    from opendata.indicators import compute_table, linked_group, links_between, load_indicators
    from opendata.suppression import exposed_linked, suppress_linked

    settings = Settings.from_env()
    every = load_indicators()
    rows, done = [], set()
    for ind in every:
        group = linked_group(ind, every)
        if len(group) < 2 or ind.id in done:
            continue
        done |= {g.id for g in group}
        snaps = [current_snapshot(settings, g.source) for g in group]
        if any(s is None for s in snaps):
            continue
        tables = [compute_table(g, get_spec(g.source, settings.specs_dir), s[2], s[1].date())
                  for g, s in zip(group, snaps, strict=True) if s is not None]
        links = links_between(group)
        before = _hidden(tables)
        start = time.perf_counter()
        exposed = exposed_linked(tables, links)
        audit = time.perf_counter() - start
        start = time.perf_counter()
        suppress_linked(tables, links)
        rows.append({"group": " x ".join(g.id for g in group), "hidden": before,
                     "exposed": len(exposed), "audit_s": audit,
                     "protect_s": time.perf_counter() - start, "hidden_after": _hidden(tables)})
    return rows
