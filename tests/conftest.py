"""Shared fixtures: an isolated LGSP home per test, and helpers to write raw runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from catalog.spec import DatasetSpec, get_spec
from lgsp.config import Settings
from warehouse.raw_zone import RawRun, RawRunWriter, new_run_id


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    return Settings.from_env()


@pytest.fixture(scope="session")
def population_spec() -> DatasetSpec:
    return get_spec("population")


def write_raw_run(settings: Settings, spec: DatasetSpec, rows: list[dict[str, str | None]],
                  run_id: str | None = None, until: str = "2026-11-01T00:00:00+00:00") -> RawRun:
    """Commit a raw run holding exactly `rows` (strings as a source would deliver them)."""
    names = list(spec.column_names)
    for row in rows:
        names += [k for k in row if k not in names]
    batch = pa.RecordBatch.from_pydict(
        {n: pa.array([r.get(n) for r in rows], pa.string()) for n in names if
         any(n in r for r in rows) or n in spec.column_names}
    )
    writer = RawRunWriter(root=settings.raw_dir, dataset=spec.id, run_id=run_id or new_run_id(),
                          source={"connector": "test"}, window={"since": None, "until": until})
    writer.write(batch)
    return writer.commit(schema_drift={"extra_columns": [], "missing_columns": []})


@pytest.fixture
def raw_run_factory(settings: Settings) -> Iterator[object]:
    yield lambda spec, rows, **kw: write_raw_run(settings, spec, rows, **kw)
