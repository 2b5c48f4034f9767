"""Fixtures for the business registry: a real drop folder written by the simulator, the
spec pointed at it, and a helper that runs the real file_drop connector."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from catalog.spec import DatasetSpec, get_spec
from connectors.base import Window
from connectors.file_drop import FileDropConnector
from connectors.registry import build_connector
from connectors.state import DatasetState
from registries.business.drop import Drop, initial_drop

SIZE = 3000
SEED = 7
AS_OF = "2026-11-01"


def spec_for(folder: Path, **params: Any) -> DatasetSpec:
    spec = get_spec("business_registry")
    merged = {**spec.source.params, "folder": str(folder), **params}
    return spec.model_copy(update={"source": spec.source.model_copy(update={"params": merged})})


class Extraction:
    """One real extract: the connector, its batches as one table, and its pending state."""

    def __init__(self, connector: FileDropConnector, batches: list[pa.RecordBatch]) -> None:
        self.connector = connector
        self.batches = batches
        self.state = DatasetState(watermark=None, extra=connector.pending_state())

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [r for b in self.batches for r in b.to_pylist()]

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in self.connector.describe()["files"]}

    @property
    def skipped(self) -> dict[str, str]:
        return {s["name"]: s["reason"] for s in self.connector.describe()["skipped"]}


def run_extract(spec: DatasetSpec, state: DatasetState | None = None) -> Extraction:
    connector = build_connector(spec)
    assert isinstance(connector, FileDropConnector)
    batches = list(connector.extract(Window(None, datetime.now(UTC)),
                                     state or DatasetState(watermark=None)))
    return Extraction(connector, batches)


@pytest.fixture
def drop(tmp_path: Path) -> Drop:
    return initial_drop(tmp_path / "drop", SIZE, SEED, AS_OF)


@pytest.fixture
def extract() -> Callable[..., Extraction]:
    return run_extract
