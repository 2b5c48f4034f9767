"""The quarantined rows of one dataset, a page at a time, for its owner agency signed in on
the portal (routes ask `api.grants.quarantine_access` first and audit each view).

The rows are read from the quarantine table's current Iceberg snapshot: the values as the
source delivered them, with the checks each row failed (`_rules`) and why (`_reasons`).
Newest runs first, then in source order. Nothing here is cached: personal values stay in
the request that was allowed to see them.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.spec import DatasetSpec
from lgsp.config import Settings
from warehouse import duck, iceberg
from warehouse.duck import quote_ident as q

PER_PAGE = 50


@dataclass
class QuarantineRow:
    run_id: str
    row: int | None
    values: list[str | None]
    rules: list[str]
    reasons: list[str]


@dataclass
class QuarantinePage:
    columns: list[str]
    rows: list[QuarantineRow]
    total: int
    page: int
    pages: int
    snapshot_id: int | None

    def personal_ids(self, spec: DatasetSpec) -> list[str]:
        """The personal IDs shown (for the audit log's who-accessed index, hashed there)."""
        idx = [i for i, c in enumerate(self.columns) if c.endswith("personal_id")]
        return sorted({str(r.values[i]) for r in self.rows for i in idx if r.values[i]})


def read_page(settings: Settings, spec: DatasetSpec, page: int = 1, per_page: int = PER_PAGE
              ) -> QuarantinePage:
    columns = [c.name for c in spec.columns]
    catalog = iceberg.load_catalog(settings)
    if not catalog.table_exists((iceberg.QUARANTINE, spec.id)):
        return QuarantinePage(columns, [], 0, 1, 1, None)
    table = catalog.load_table((iceberg.QUARANTINE, spec.id))
    snapshot = table.current_snapshot()
    files = [iceberg.local_path(p) for p in iceberg.data_files(table)]
    if snapshot is None or not files:
        return QuarantinePage(columns, [], 0, 1, 1, None if snapshot is None else snapshot.snapshot_id)
    source = duck.parquet_source(files)
    with duck.connection(memory_limit="256MB", threads=1) as con:
        have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        cols = [c for c in columns if c in have]
        count = con.execute(f"SELECT count(*) FROM {source}").fetchone()
        total = int(count[0]) if count else 0
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        select = ", ".join([q(c) for c in cols] + ["_run_id", "_row", "_rules", "_reasons"])
        raw = con.execute(f"SELECT {select} FROM {source} ORDER BY _run_id DESC, _row, _rules "
                          f"LIMIT ? OFFSET ?", [per_page, (page - 1) * per_page]).fetchall()
    n = len(cols)
    rows = [QuarantineRow(str(r[n]), r[n + 1], [None if v is None else str(v) for v in r[:n]],
                          [x.strip() for x in str(r[n + 2] or "").split(",") if x.strip()],
                          [x.strip() for x in str(r[n + 3] or "").split(";") if x.strip()])
            for r in raw]
    return QuarantinePage(cols, rows, total, page, pages, snapshot.snapshot_id)
