"""Sources that misbehave or attack, end to end, for every transport they apply to.

Each case points a dataset at a hostile source (a real HTTP server on 127.0.0.1 answering
REST and SOAP, a real drop folder, real PostgreSQL and MariaDB tables) and runs the
extract in a spawned worker under a memory cap (RLIMIT_AS) and a time bound, so a case
that would segfault, hang or eat memory costs the worker, not the test runner. Every case
must end in a failed run whose message names the source and the limit or defect, with
nothing published (no curated table, no watermark, no committed raw run); then the source
turns clean (the registry is fixed, the file removed, the row corrected) and the next run
completes and publishes.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from catalog.spec import DATASETS_DIR, DatasetSpec
from connectors.state import StateStore
from lgsp import pipeline
from lgsp.config import Settings
from tests.connectors import hostile_sources as hs
from tests.connectors.hostile_worker import extract, limit_memory
from warehouse import iceberg
from warehouse.raw_zone import committed_runs

MEMORY_CAP = 3 << 30
CASE_SECONDS = int(os.environ.get("LGSP_HOSTILE_CASE_SECONDS", "60"))
SMALL = {"max_response_bytes": "1 MiB", "max_decompressed_bytes": "4 MiB", "request_seconds": 2,
         "run_seconds": 60, "max_pages": 5, "max_cell_bytes": "64 kiB"}
"""Limits small enough to keep each case cheap (the defaults are province-sized)."""
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def make_spec(dataset: str, connector: str, params: dict[str, Any],
              limits: dict[str, Any] | None = None) -> DatasetSpec:
    text = {"vi": "thử", "en": "test"}
    return DatasetSpec.model_validate({
        "id": dataset, "title": text, "description": text, "owner": {"agency": text},
        "source": {"connector": connector, "params": params, "limits": {**SMALL, **(limits or {})}},
        "schedule": None, "primary_key": ["id"], "order_by": "updated_at",
        "columns": [
            {"name": "id", "description": text, "required": True},
            {"name": "name", "description": text},
            {"name": "updated_at", "type": "timestamp", "description": text, "required": True},
        ],
        "quality": {"min_rows": 1, "max_quarantine_rate": 0.5},
    })


# --- fixtures: one home, one hostile server, one worker, the databases -------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-home")


@pytest.fixture(scope="module")
def settings(home: Path) -> Settings:
    return Settings(home=home, specs_dir=DATASETS_DIR)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with hs.hostile_server() as url:
        yield url


class Worker:
    """A spawned process under RLIMIT_AS that runs extracts; replaced when a case kills it."""

    def __init__(self) -> None:
        self.pool = self._start()

    @staticmethod
    def _start() -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=limit_memory, initargs=(MEMORY_CAP,))

    def run(self, spec: DatasetSpec, home: Path) -> dict[str, Any]:
        future = self.pool.submit(extract, spec.model_dump(mode="json"), str(home))
        try:
            return future.result(timeout=CASE_SECONDS)
        except cf.process.BrokenProcessPool:
            self.pool = self._start()
            return {"ok": False, "type": "WorkerDied", "message": "the worker process died "
                                                                 "(segfault or memory cap)"}
        except cf.TimeoutError:
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.kill()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._start()
            return {"ok": False, "type": "Hung", "message": f"no outcome in {CASE_SECONDS} s"}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, str]]:
    name = f"lgsp_hostile_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    maria = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                            autocommit=True)
    with maria.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield {"postgresql": f"postgresql://postgres@127.0.0.1:5432/{name}",
               "mariadb": f"mysql+pymysql://root@127.0.0.1:3306/{name}", "name": name}
    finally:
        with maria.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        maria.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sql(databases: dict[str, str], backend: str, *statements: str,
        params: tuple[Any, ...] = ()) -> None:
    if backend == "postgresql":
        with psycopg.connect(databases["postgresql"], autocommit=True) as con:
            for s in statements:
                con.execute(s, params or None)
        return
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                          database=databases["name"], autocommit=True)
    with con.cursor() as cur:
        for s in statements:
            cur.execute(s, params or None)
    con.close()


def create_table(databases: dict[str, str], backend: str, table: str, name_type: str,
                 extra: str = "") -> None:
    stamp = "timestamptz" if backend == "postgresql" else "DATETIME"
    q = '"' if backend == "postgresql" else "`"
    sql(databases, backend,
        f"CREATE TABLE {q}{table}{q} (id varchar(20) PRIMARY KEY, name {name_type}, "
        f"updated_at {stamp} NOT NULL{extra})")
    rows = ", ".join(f"('R{i:05d}', 'Nguyen {i}', '2026-11-01 00:00:00')" for i in range(hs.CLEAN_ROWS))
    sql(databases, backend, f"INSERT INTO {q}{table}{q} (id, name, updated_at) VALUES {rows}")


# --- the cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    transport: str
    hostile: str
    """REST/SOAP: the server's mode; files: the hostile file's kind; SQL: the defect."""
    expect: tuple[str, ...]
    """Fragments the failure message must hold (besides the dataset id)."""
    limits: tuple[tuple[str, Any], ...] = ()


CASES = {
    # 1: nesting that crashes Arrow's JSON reader (segfault) is refused before parsing
    "rest-deep-nesting": Case("rest", "deep", ("max_depth",)),
    # 2: sizes on the wire, after decompression, records per page
    "rest-endless-body": Case("rest", "endless", ("max_response_bytes",)),
    "rest-gzip-bomb": Case("rest", "gzip_bomb", ("max_decompressed_bytes",)),
    "rest-too-many-records": Case("rest", "many_records", ("page_size_margin", "1,000 records")),
    "soap-endless-body": Case("soap", "endless", ("max_response_bytes",)),
    "soap-gzip-bomb": Case("soap", "gzip_bomb", ("max_decompressed_bytes",)),
    "soap-too-many-records": Case("soap", "many_records", ("page_size_margin",)),
    # 3: a byte a second never ends a request
    "rest-byte-a-second": Case("rest", "slow", ("request_seconds",)),
    "soap-byte-a-second": Case("soap", "slow", ("request_seconds",)),
    "rest-headers-a-byte-at-a-time": Case("rest", "slow_headers", ("request_seconds",)),
    "soap-headers-a-byte-at-a-time": Case("soap", "slow_headers", ("request_seconds",)),
    # 4: cursor loops and endless paging
    "rest-cursor-loop": Case("rest", "loop", ("cursor 'A' again", "paging loop")),
    "rest-same-cursor": Case("rest", "same", ("again", "paging loop")),
    "rest-endless-pages": Case("rest", "endless_pages", ("max_pages",)),
    "soap-endless-pages": Case("soap", "endless_pages", ("max_pages",)),
    # 5: XLSX dimensions and zip bombs
    "xlsx-row-1e12": Case("file_drop", "xlsx_far_row", ("hostile.xlsx", "xlsx_max_rows")),
    "xlsx-zip-bomb": Case("file_drop", "xlsx_bomb", ("hostile.xlsx", "compression_ratio")),
    # 9: bytes that are not text, elements too deep
    "soap-deep-record": Case("soap", "deep", ("max_depth", "member record 1")),
    "rest-nul-byte": Case("rest", "nul", ("column 'name'", "record 2 of the run", "NUL")),
    "csv-nul-byte": Case("file_drop", "csv_nul", ("column 'name'", "hostile.csv row 3", "NUL")),
    "mariadb-nul-byte": Case("mariadb", "nul", ("column 'name'", "NUL")),
    "mariadb-varbinary-not-utf8": Case("mariadb", "varbinary",
                                       ("column 'name'", "not UTF-8", "table h_")),
    "rest-cell-too-big": Case("rest", "big_cell", ("column 'name'", "max_cell_bytes")),
    "csv-field-too-big": Case("file_drop", "csv_big_field", ("hostile.csv", "field larger")),
    "postgresql-cell-too-big": Case("postgresql", "big_cell", ("column 'name'", "max_cell_bytes")),
    # 10: hostile XML is a deterministic error: one request, not six
    "soap-xxe": Case("soap", "xxe", ("undefined entity", "not retried")),
    "soap-billion-laughs": Case("soap", "laughs", ("not well-formed", "not retried")),
}


def _dataset(case_id: str) -> str:
    return "h_" + case_id.replace("-", "_")


def _setup(case: Case, dataset: str, server: str, home: Path,
           databases: dict[str, str] | None) -> tuple[DatasetSpec, Callable[[], None]]:
    """The hostile source for this case, its spec, and how the source is made clean."""
    limits = dict(case.limits)
    retry = {"max_attempts": 3, "budget_seconds": 10, "backoff_initial": 0.05}
    if case.transport == "rest":
        hs.MODES[dataset] = case.hostile
        spec = make_spec(dataset, "rest", {
            "base_url": server, "path": f"/rest/{dataset}", "page_size": hs.PAGE,
            "read_timeout": 1, "retry": retry}, limits)
        return spec, lambda: hs.MODES.__setitem__(dataset, "clean")
    if case.transport == "soap":
        hs.MODES[dataset] = case.hostile
        spec = make_spec(dataset, "soap_xml", {
            "url": f"{server}/soap/{dataset}", "namespace": "urn:test", "auth": "none",
            "page_size": hs.PAGE, "read_timeout": 1, "retry": retry}, limits)
        return spec, lambda: hs.MODES.__setitem__(dataset, "clean")
    if case.transport == "file_drop":
        folder = home / "drops" / dataset
        hs.write(folder / "clean.csv", hs.clean_csv())
        hostile = {
            "xlsx_far_row": lambda: hs.write(folder / "hostile.xlsx", hs.xlsx_far_row()),
            "xlsx_bomb": lambda: hs.write(folder / "hostile.xlsx", hs.xlsx_bomb()),
            "csv_nul": lambda: hs.write(folder / "hostile.csv", hs.CSV_HEADER
                                        + f"R90001,Ok,{hs.STAMP}\nR90002,Ng\x00uyen,{hs.STAMP}\n"),
            "csv_big_field": lambda: hs.write(folder / "hostile.csv", hs.CSV_HEADER
                                              + f"R90001,{'A' * 300_000},{hs.STAMP}\n"),
        }[case.hostile]()
        spec = make_spec(dataset, "file_drop", {"folder": str(folder)}, limits)
        return spec, lambda: hostile.unlink()
    assert databases is not None
    backend = case.transport
    create_table(databases, backend, dataset,
                 "varbinary(200)" if case.hostile == "varbinary" else "text")
    q = '"' if backend == "postgresql" else "`"
    bad = {"nul": "Ng\x00uyen", "varbinary": b"Nguy\xe1\xbb\x85n \xff\xfe",
           "big_cell": "A" * 200_000}[case.hostile]
    sql(databases, backend, f"UPDATE {q}{dataset}{q} SET name = %s WHERE id = 'R00003'",
        params=(bad,))
    spec = make_spec(dataset, "sql", {"dsn": databases[backend], "table": dataset}, limits)
    return spec, lambda: sql(databases, backend,
                             f"UPDATE {q}{dataset}{q} SET name = 'fixed' WHERE id = 'R00003'")


def assert_nothing_published(settings: Settings, dataset: str) -> None:
    assert not iceberg.load_catalog(settings).table_exists(("curated", dataset))
    assert StateStore(settings.state_dir).get(dataset).watermark is None
    assert list(committed_runs(settings.raw_dir, dataset)) == []
    assert not list((settings.raw_dir / dataset).glob(".tmp-*"))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("case_id", list(CASES))
def test_a_hostile_source_costs_one_failed_run_and_the_next_clean_run_completes(
        case_id: str, server: str, home: Path, settings: Settings, worker: Worker,
        request: pytest.FixtureRequest) -> None:
    case = CASES[case_id]
    dataset = _dataset(case_id)
    databases = (request.getfixturevalue("databases")
                 if case.transport in ("postgresql", "mariadb") else None)
    spec, make_clean = _setup(case, dataset, server, home, databases)
    hs.HITS[dataset] = 0

    outcome = worker.run(spec, home)

    assert not outcome["ok"], f"{case_id}: the hostile run did not fail: {outcome}"
    message = outcome["message"]
    assert outcome["type"] not in ("WorkerDied", "Hung", "MemoryError", "RecursionError"), message
    # The source: the dataset (and its URL or table) or, for a drop folder, the file.
    assert (dataset in message) or (case.transport == "file_drop" and "hostile." in message), message
    for fragment in case.expect:
        assert fragment in message, f"{case_id}: {fragment!r} not in {message!r}"
    if case.hostile in ("xxe", "laughs"):
        assert hs.HITS[dataset] == 1, "a malformed document is not retried"
    assert_nothing_published(settings, dataset)

    make_clean()
    summary = pipeline.run_dataset(spec, settings, use_gx=False)
    assert not summary.blocked, summary.block_reasons
    assert summary.published == hs.CLEAN_ROWS
    assert iceberg.load_catalog(settings).table_exists(("curated", dataset))


# --- hostile but legal: read exactly, nothing smuggled -------------------------------------


@pytest.mark.timeout(120)
def test_links_and_special_files_in_the_drop_folder_are_reported_and_skipped(
        home: Path, settings: Settings, tmp_path: Path) -> None:
    dataset = "h_drop_links"
    folder = home / "drops" / dataset
    hs.write(folder / "clean.csv", hs.clean_csv())
    outside = hs.write(tmp_path / "outside.csv", hs.clean_csv(n0=500, n=5))
    (folder / "to_outside.csv").symlink_to(outside)
    (folder / "passwd.csv").symlink_to("/etc/passwd")
    os.mkfifo(folder / "pipe.csv")  # opening a FIFO would block the extract forever
    linked_dir = tmp_path / "elsewhere"
    hs.write(linked_dir / "inner.csv", hs.clean_csv(n0=900, n=5))
    (folder / "sub").symlink_to(linked_dir)
    spec = make_spec(dataset, "file_drop", {"folder": str(folder),
                                            "patterns": ["*.csv", "sub/*.csv"]})

    summary = pipeline.run_dataset(spec, settings, use_gx=False)

    assert not summary.blocked and summary.published == hs.CLEAN_ROWS
    run = list(committed_runs(settings.raw_dir, dataset))[-1]
    skipped = {s["name"]: s["reason"] for s in run.manifest["source"]["skipped"]}
    assert set(skipped) == {"to_outside.csv", "passwd.csv", "pipe.csv", "sub/inner.csv"}
    assert "symbolic link" in skipped["passwd.csv"] and "symbolic link" in skipped["to_outside.csv"]
    assert "not a regular file" in skipped["pipe.csv"]
    assert "outside the drop folder" in skipped["sub/inner.csv"]
    assert [f["name"] for f in run.manifest["source"]["files"]] == ["clean.csv"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend, column", [("postgresql", "a{}b"), ("postgresql", "x%s"),
                                             ("mariadb", "x%s"), ("mariadb", "a{}b")])
def test_column_names_with_braces_or_percent_are_read_as_any_other(
        backend: str, column: str, databases: dict[str, str], settings: Settings) -> None:
    dataset = f"h_names_{backend}_{'braces' if '{' in column else 'percent'}"
    q = '"' if backend == "postgresql" else "`"
    create_table(databases, backend, dataset, "text", extra=f", {q}{column}{q} text")
    sql(databases, backend, f"UPDATE {q}{dataset}{q} SET {q}{column}{q} = concat('v', id)")
    spec = make_spec(dataset, "sql", {"dsn": databases[backend], "table": dataset})

    summary = pipeline.run_dataset(spec, settings, use_gx=False)

    assert not summary.blocked and summary.published == hs.CLEAN_ROWS
    run = list(committed_runs(settings.raw_dir, dataset))[-1]
    assert run.manifest["schema_drift"]["extra_columns"] == [column]
    import pyarrow.parquet as pq

    table = pq.read_table([str(p) for p in run.files])
    assert sorted(table.column(column).to_pylist()) == [f"vR{i:05d}" for i in range(hs.CLEAN_ROWS)]
