"""Helpers for the concurrent-run tests of each transport: two runs of one dataset at once
(the second started while the first is inside its extract, so they overlap without any
timing), the curated and quarantine tables as rows to compare, and a PostgreSQL catalog
database of a test's own."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from catalog.spec import DatasetSpec
from lgsp import pipeline
from lgsp.config import Settings
from warehouse.query import curated_connection

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def run_twice_at_once(spec: DatasetSpec, settings: Settings, **kw: Any
                      ) -> tuple[pipeline.RunSummary, BaseException | None]:
    """Start a run; when it is inside its extract (its first batch written), start a second
    run of the same dataset in this thread and let the first go on only when the second is
    over. Returns the first run's summary and what the second raised (None: it ran)."""
    inside = threading.Event()
    second_over = threading.Event()
    first: dict[str, Any] = {}

    def hold_inside_extract(rows: int) -> None:
        inside.set()
        second_over.wait(timeout=900)

    def run_first() -> None:
        try:
            first["summary"] = pipeline.run_dataset(spec, settings, progress=hold_inside_extract,
                                                    use_gx=False, **kw)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            first["error"] = exc
            inside.set()

    thread = threading.Thread(target=run_first)
    thread.start()
    inside.wait(timeout=900)
    second: BaseException | None = None
    try:
        pipeline.run_dataset(spec, settings, use_gx=False, **kw)
    except Exception as exc:  # noqa: BLE001 - returned to the test
        second = exc
    finally:
        second_over.set()
    thread.join()
    if "error" in first:
        raise first["error"]
    return first["summary"], second


def other_home(settings: Settings, tmp_path: Path, catalog_uri: str | None = None) -> Settings:
    """A fresh home (and catalog) for the single run the concurrent ones are compared with."""
    return dataclasses.replace(settings, home=tmp_path / "single-run-home",
                               catalog_uri=catalog_uri)


def tables(settings: Settings, dataset: str) -> tuple[list[tuple], list[tuple]]:
    """The curated and the quarantine table's rows, without the columns naming the run."""
    con = curated_connection(settings)
    out = []
    for view in (dataset, f"{dataset}_quarantine"):
        out.append(con.execute(
            f'SELECT * EXCLUDE ("_run_id", "_ingested_at") FROM "{view}" ORDER BY ALL').fetchall())
    return out[0], out[1]


@contextmanager
def pg_catalog() -> Iterator[str]:
    """A PostgreSQL database of the test's own, as the SQLAlchemy URI of a catalog."""
    name = f"lgsp_catalog_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
