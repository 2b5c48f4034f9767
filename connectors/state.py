"""Incremental state per dataset: the watermark up to which the source has been published.

The watermark is advanced only after a publish commits, so a failed or interrupted run
leaves it where it was and the next run pulls the same window again. Writes are atomic
(temporary file + rename) and the watermark never moves backwards.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DatasetState:
    watermark: datetime | None
    last_run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Connector-owned state (a file ledger, a keyset position...), saved at publish."""


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, dataset: str) -> Path:
        return self.directory / f"{dataset}.json"

    def get(self, dataset: str) -> DatasetState:
        path = self._path(dataset)
        if not path.exists():
            return DatasetState(watermark=None)
        data = json.loads(path.read_text(encoding="utf-8"))
        wm = data.get("watermark")
        return DatasetState(
            watermark=datetime.fromisoformat(wm) if wm else None,
            last_run_id=data.get("last_run_id"),
            extra=data.get("extra", {}),
        )

    def advance(self, dataset: str, watermark: datetime | None, run_id: str,
                extra_update: dict[str, Any] | None = None) -> DatasetState:
        """Move the watermark forward (never back) and merge connector state (top-level
        keys replaced by `extra_update`)."""
        current = self.get(dataset)
        new_wm = current.watermark
        if watermark is not None and (new_wm is None or watermark > new_wm):
            new_wm = watermark
        extra = {**current.extra, **(extra_update or {})}
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(dataset)
        tmp = path.with_suffix(".json.tmp")
        payload = {"watermark": new_wm.isoformat() if new_wm else None, "last_run_id": run_id,
                   "extra": extra}
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return DatasetState(watermark=new_wm, last_run_id=run_id, extra=extra)

    def reset(self, dataset: str) -> None:
        self._path(dataset).unlink(missing_ok=True)
