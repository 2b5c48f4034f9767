"""The raw zone: immutable Parquet files, one folder per dataset run, plus a manifest.

This is the contract between extract and the quality gate (as in dlt: a package on disk).
A run is written into a hidden temporary folder and becomes visible only when its manifest
is written and the folder renamed in one step, so a run killed mid-extract leaves nothing a
later stage would pick up. Every raw column is kept as delivered (strings); `_row` numbers
the rows of the run so errors can name them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROW_COLUMN = "_row"
MANIFEST = "_manifest.json"
WRITER = "_writer.json"
"""In an unfinished run's folder: the host and pid of the process writing it."""
ROWS_PER_FILE = 500_000


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"


def sanitize_run_id(value: str) -> str:
    """Airflow run ids contain ':' and '+'; keep a filesystem-safe form."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in value)


@dataclass
class RawRun:
    """A committed raw run: its folder and manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.manifest["run_id"])

    @property
    def dataset(self) -> str:
        return str(self.manifest["dataset"])

    @property
    def row_count(self) -> int:
        return int(self.manifest["row_count"])

    @property
    def files(self) -> list[Path]:
        return [self.path / f["name"] for f in self.manifest["files"]]

    @classmethod
    def load(cls, path: str | Path) -> RawRun:
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            raise FileNotFoundError(f"{path}: not a committed raw run (no {MANIFEST})")
        return cls(path=path, manifest=json.loads(manifest_path.read_text(encoding="utf-8")))

    def verify(self) -> None:
        """Check every file against the manifest's checksum; raise naming the file."""
        for entry in self.manifest["files"]:
            digest = _sha256(self.path / entry["name"])
            if digest != entry["sha256"]:
                raise ValueError(f"{self.path / entry['name']}: checksum mismatch, file changed")


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass
class RawRunWriter:
    """Streams record batches into part files of a new run; `commit()` publishes the run."""

    root: Path
    dataset: str
    run_id: str
    source: dict[str, Any]
    window: dict[str, str | None]
    rows_per_file: int = ROWS_PER_FILE
    _tmp: Path = field(init=False)
    _writer: pq.ParquetWriter | None = field(init=False, default=None)
    _schema: pa.Schema | None = field(init=False, default=None)
    _files: list[dict[str, Any]] = field(init=False, default_factory=list)
    _rows_in_file: int = field(init=False, default=0)
    _rows: int = field(init=False, default=0)
    _started: str = field(init=False)

    def __post_init__(self) -> None:
        self.final_path = self.root / self.dataset / self.run_id
        if self.final_path.exists():
            raise FileExistsError(f"{self.final_path}: raw run already exists (runs are immutable)")
        self._tmp = self.root / self.dataset / f".tmp-{self.run_id}"
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir(parents=True)
        (self._tmp / WRITER).write_text(
            json.dumps({"host": socket.gethostname(), "pid": os.getpid()}), "utf-8")
        self._started = datetime.now(UTC).isoformat()

    @property
    def rows(self) -> int:
        return self._rows

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        numbers = pa.array(range(self._rows + 1, self._rows + 1 + batch.num_rows), pa.int64())
        batch = batch.append_column(ROW_COLUMN, numbers)
        if self._writer is not None and (
            batch.schema != self._schema or self._rows_in_file >= self.rows_per_file
        ):
            self._close_file()
        if self._writer is None:
            name = f"part-{len(self._files):05d}.parquet"
            self._schema = batch.schema
            self._writer = pq.ParquetWriter(self._tmp / name, batch.schema, compression="zstd")
            self._files.append({"name": name, "rows": 0})
        self._writer.write_batch(batch, row_group_size=128 * 1024)
        self._files[-1]["rows"] += batch.num_rows
        self._rows_in_file += batch.num_rows
        self._rows += batch.num_rows

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._rows_in_file = 0

    def commit(self, **extra: Any) -> RawRun:
        """Write the manifest and make the run visible atomically."""
        self._close_file()
        for entry in self._files:
            path = self._tmp / entry["name"]
            entry["sha256"] = _sha256(path)
            entry["bytes"] = path.stat().st_size
        manifest = {
            "dataset": self.dataset,
            "run_id": self.run_id,
            "source": self.source,
            "window": self.window,
            "started_at": self._started,
            "finished_at": datetime.now(UTC).isoformat(),
            "row_count": self._rows,
            "files": self._files,
            **extra,
        }
        (self._tmp / WRITER).unlink(missing_ok=True)
        tmp_manifest = self._tmp / (MANIFEST + ".part")
        tmp_manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
        os.replace(tmp_manifest, self._tmp / MANIFEST)
        os.replace(self._tmp, self.final_path)
        return RawRun(path=self.final_path, manifest=manifest)

    def abort(self) -> None:
        self._close_file()
        shutil.rmtree(self._tmp, ignore_errors=True)


def committed_runs(root: Path, dataset: str) -> Iterator[RawRun]:
    """Committed runs of a dataset, oldest first (run ids sort by time)."""
    folder = root / dataset
    if not folder.exists():
        return
    for path in sorted(folder.iterdir()):
        if path.is_dir() and not path.name.startswith(".") and (path / MANIFEST).exists():
            yield RawRun.load(path)


def remove_stale_temporaries(root: Path, dataset: str) -> list[Path]:
    """Remove folders of runs that never committed (killed extracts) and whose writer is not
    alive: a folder written by a live process of this host is another run in progress, never
    removed. (Runs of one dataset are excluded by warehouse/run_lock.py; this guards the raw
    zone even so.) A folder of another host's writer is removed: the caller holds the
    dataset's lock, so that writer lost it. Returns what it removed."""
    folder = root / dataset
    removed = []
    if folder.exists():
        for path in folder.glob(".tmp-*"):
            if _writer_alive(path):
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _writer_alive(path: Path) -> bool:
    from warehouse.run_lock import pid_alive

    try:
        writer = json.loads((path / WRITER).read_text("utf-8"))
    except (OSError, ValueError):
        return False  # no writer recorded (an older run's folder) or half-written: unfinished
    return writer.get("host") == socket.gethostname() and pid_alive(int(writer["pid"]))
