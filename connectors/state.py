"""Incremental state per dataset: the watermark up to which the source has been published.

The watermark is advanced only after a publish commits, so a failed or interrupted run
leaves it where it was and the next run pulls the same window again. Writes are atomic
(temporary file + rename) and the watermark never moves backwards.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class DatasetState:
    watermark: datetime | None
    last_run_id: str | None = None


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
        )

    def advance(self, dataset: str, watermark: datetime, run_id: str) -> DatasetState:
        current = self.get(dataset)
        if current.watermark is not None and watermark < current.watermark:
            return current
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(dataset)
        tmp = path.with_suffix(".json.tmp")
        payload = {"watermark": watermark.isoformat(), "last_run_id": run_id}
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, path)
        return DatasetState(watermark=watermark, last_run_id=run_id)

    def reset(self, dataset: str) -> None:
        self._path(dataset).unlink(missing_ok=True)
