"""The agency API under load from a separate process (wrk), on the population table, side by
side in one run with the alternatives (issue 8):

- lgsp: `lgsp serve` (granian, 2 workers) with auth and audit on: key lookups
  (`/api/v1/datasets/population/key/<id>`) and a filtered page (OData `$filter` on the
  commune, the grant's row-scope column, `$top=20`), a fresh bearer token and the
  `LGSP-Purpose` header on every request, each request checked against the grant and
  appended to the hash-chained audit;
- lgsp without auth and audit: `/bench/lookup/population/<id>` (the same store lookup, no
  token, grant or audit; mounted by LGSP_BENCH_ENDPOINTS=1): what auth + audit cost;
- lgsp on PostgreSQL: the same service answering from an indexed PostgreSQL copy of the
  table (LGSP_API_STORE_URI; `api.pg_copy.copy_to_postgres` makes the copy in a database
  this run creates and drops), lookups and the filtered page, auth and audit on;
- Datasette: the same rows (the granted columns) in a SQLite file with the personal ID as
  primary key and an index on the commune, served as its users would
  (`datasette serve -i file.db`: immutable, the mode its docs give for published data;
  `--setting suggest_facets off`, and `_nocount=1&_nofacet=1` on the page, since our page
  counts nothing either); lookups by primary key (`/<db>/population/<id>.json`) and the
  filtered page (`?residence_commune_code=<c>&_size=20`);
- the framework's ceiling: `/bench/constant` of the same server (a constant JSON body).

Every variant: wrk -t2 -c16 on 127.0.0.1, a short warm-up, then a bounded run; random
existing keys (a few thousand sampled from the client's rows) per request through
bench/wrk/api_load.lua. A variant the checked-out code cannot serve (an endpoint missing, a
module not there) is a row saying why, not a failure. Peak RSS is the server's process tree
(sampled every 0.2 s during the measured run).

The population is the simulated registry's (registries.population.generator, defects and
all) through the real gate (its split, without GX) and publish; the client is registered
and granted with the functions `lgsp clients/grants` call (a personal-data grant, approved,
row scope `residence_commune_code in client.communes` over the larger half of the communes).

Run: uv run --frozen python -m bench api [--size 1200000] [--duration 30]
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import requests

from registries.process import free_port

WRK_SCRIPT = Path(__file__).parent / "wrk" / "api_load.lua"
THREADS, CONNECTIONS = 2, 16
PAGE_TOP = 20
KEYS = 4000
DATASET = "population"
FILTER_COLUMN = "residence_commune_code"
PURPOSE = "benchmark: residence verification"
COLUMNS = ["personal_id", "full_name", "sex", "date_of_birth", "household_id", "relation_to_head",
           "residence_commune_code", "residence_code_era", "residence_address", "status",
           "date_of_death", "updated_at"]
"""Granted in clear (all of the spec's columns but the sensitive ethnicity); the SQLite copy
holds the same ones, so both answer with the same fields."""
PG_URI = "postgresql://postgres@127.0.0.1:5432"
_STARTUP_S = 600
"""`lgsp serve` builds its serving copies before answering: minutes at 1.2 M rows."""


# ---- the data -------------------------------------------------------------------------

def build_home(home: Path, size: int, seed: int = 42) -> Any:
    """An LGSP home whose curated `population` holds the simulated registry's `size` people
    (less what the gate quarantines): raw run -> gate (split, no GX) -> Iceberg snapshot."""
    os.environ["LGSP_HOME"] = str(home)
    for name in ("LGSP_CONTROL_DB_URI", "LGSP_API_STORE_URI", "LGSP_SPECS_DIR"):
        os.environ.pop(name, None)
    from catalog.spec import get_spec
    from lgsp import pipeline
    from lgsp.config import Settings
    from registries.population.generator import generate_population
    from warehouse.raw_zone import RawRunWriter, new_run_id

    settings = Settings.from_env()
    spec = get_spec(DATASET)
    table = generate_population(size, seed)
    table = table.select([c for c in table.column_names if not c.startswith("_")])
    writer = RawRunWriter(root=settings.raw_dir, dataset=DATASET, run_id=new_run_id(),
                          source={"connector": "bench"},
                          window={"since": None, "until": datetime.now(UTC).isoformat()})
    for batch in table.to_batches(max_chunksize=100_000):
        writer.write(batch)
    del table
    run = writer.commit(schema_drift={"extra_columns": [], "missing_columns": []})
    pipeline.validate(spec, run.path, settings, use_gx=False)
    pipeline.publish_run(spec, run.path, settings)
    return settings


def snapshot_files(settings: Any) -> list[str]:
    from warehouse.query import snapshot_files as files

    found = files(settings, "curated", DATASET)
    if not found:
        raise RuntimeError(f"no curated {DATASET} snapshot under {settings.home}")
    return found


def scope_and_keys(settings: Any, folder: Path) -> tuple[list[str], int, Path, Path]:
    """The client's communes (the larger half by residents), the rows in that scope, a keys
    file (KEYS personal IDs sampled from those rows) and a values file (the communes)."""
    import duckdb

    con = duckdb.connect()
    source = f"read_parquet({snapshot_files(settings)!r})"
    counts = con.execute(f"SELECT {FILTER_COLUMN}, count(*) FROM {source} GROUP BY 1 "
                         "ORDER BY 2 DESC, 1").fetchall()
    communes = [c for c, _ in counts[:max(1, len(counts) // 2)]]
    in_scope = sum(n for c, n in counts[:len(communes)])
    keys = [r[0] for r in con.execute(
        f"SELECT personal_id FROM {source} WHERE {FILTER_COLUMN} IN "
        f"(SELECT unnest(?::VARCHAR[])) USING SAMPLE reservoir({KEYS} ROWS) REPEATABLE (42)",
        [communes]).fetchall()]
    keys_file, values_file = folder / "keys.txt", folder / "communes.txt"
    keys_file.write_text("\n".join(keys) + "\n", encoding="utf-8")
    values_file.write_text("\n".join(communes) + "\n", encoding="utf-8")
    return communes, in_scope, keys_file, values_file


def register_client(settings: Any, communes: list[str]) -> tuple[str, str]:
    """A client with a rate limit no load here reaches, granted the population's COLUMNS for
    one purpose over its communes' residents (personal data: requested, then approved)."""
    from api import clients, grants
    from control import db

    with db.session(settings) as s:
        issued = clients.register(s, settings, name="bench load client", agency="UBND tỉnh (bench)",
                                  communes=communes, rate_per_minute=10**9, actor="cli:bench")
        g = grants.grant(s, settings, client_id=issued.client_id, dataset=DATASET, columns=COLUMNS,
                         purposes=[PURPOSE], legal_basis="Decree 13/2023 (benchmark)",
                         expires_at=datetime.now(UTC) + timedelta(days=1), actor="cli:bench",
                         row_scope=[grants.parse_scope_clause(f"{FILTER_COLUMN} in client.communes")])
        if g.personal:
            grants.approve(s, settings, g.id, actor="cli:bench-owner")
    return issued.client_id, issued.secret


def sqlite_copy(settings: Any, path: Path, batch_rows: int = 50_000) -> int:
    """The snapshot's rows (COLUMNS, as text) into a SQLite table `population` with the
    personal ID as primary key and an index on the filter column, in batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    cols = ", ".join(f'"{c}" TEXT' + (" PRIMARY KEY" if c == "personal_id" else "") for c in COLUMNS)
    con.execute(f"CREATE TABLE {DATASET} ({cols})")
    insert = f"INSERT INTO {DATASET} VALUES ({', '.join('?' * len(COLUMNS))})"
    rows = 0
    for file in snapshot_files(settings):
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_rows, columns=COLUMNS):
            text = [batch.column(c).cast(pa.string()).to_pylist() for c in COLUMNS]
            con.executemany(insert, zip(*text, strict=True))
            rows += batch.num_rows
    con.execute(f'CREATE INDEX {DATASET}_{FILTER_COLUMN} ON {DATASET} ("{FILTER_COLUMN}")')
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return rows


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A database of its own on the local PostgreSQL, dropped afterwards."""
    import psycopg

    admin = f"{PG_URI}/postgres"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_URI}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- servers and load ---------------------------------------------------------------------

class _RssSampler:
    """The summed RSS of a process and its descendants, sampled every 0.2 s; `peak_mb` since
    the last `reset`."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)

    def reset(self) -> None:
        self.peak = 0

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[str]
    rss: _RssSampler
    startup_s: float = 0.0
    how: str = ""
    """How it was started (the table's caption)."""


@contextmanager
def serve(name: str, cmd: list[str], env: dict[str, str], port: int, probe: str) -> Iterator[Server]:
    """Start `cmd` in a process group of its own, wait until `probe` answers 200 (a clear
    error with the server's output if it exits or stays silent), stop the whole group."""
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        rss: _RssSampler | None = None
        started = time.perf_counter()
        try:
            _wait(name, proc, log, f"http://127.0.0.1:{port}{probe}")
            rss = _RssSampler(proc.pid)
            yield Server(name, f"http://127.0.0.1:{port}", proc, rss, time.perf_counter() - started)
        finally:
            if rss:
                rss.stop()
            _stop(proc)


def _wait(name: str, proc: subprocess.Popen[str], log: Any, url: str) -> None:
    deadline = time.monotonic() + _STARTUP_S
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{name} exited ({proc.returncode}): {log.read()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer {url} within {_STARTUP_S} s")
        time.sleep(0.25)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the process group, SIGKILL if it is still there 20 s later."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(out: str) -> dict[str, float]:
    """requests/s, p50/p99 (ms), requests, non-2xx and socket errors from `wrk --latency`."""
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not (p50 and p99 and rps and total):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(rps.group(1)), "p50_ms": _ms(p50.group(1)), "p99_ms": _ms(p99.group(1)),
            "requests": float(total.group(1)),
            "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
            "socket_errors": float(sum(int(g) for g in sockets.groups())) if sockets else 0.0}


def wrk(url: str, path: str, seconds: int, env: dict[str, str]) -> dict[str, float]:
    import shutil

    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    proc = subprocess.run([binary, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                           "-s", str(WRK_SCRIPT), url],
                          env={**os.environ, **env, "LGSP_WRK_PATH": path}, capture_output=True,
                          text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return parse_wrk(proc.stdout)


@dataclass
class Variant:
    name: str
    shape: str  # lookup | page | constant
    path: str  # {key}: a random sampled key, {value}: a random commune of the scope
    auth: bool = False
    fallback: str | None = None
    """Measured instead when `path` is not served (named in the row's note)."""


def _token(server: Server, client: tuple[str, str]) -> str:
    r = requests.post(f"{server.url}/api/v1/token", timeout=30,
                      data={"grant_type": "client_credentials", "client_id": client[0],
                            "client_secret": client[1]})
    r.raise_for_status()
    return str(r.json()["access_token"])


def _probe(server: Server, v: Variant, headers: dict[str, str], key: str, value: str,
           path: str | None = None) -> str | None:
    """Why the variant cannot be measured here (None: it answers 2xx)."""
    path = (path or v.path).replace("{key}", key).replace("{value}", value)
    try:
        r = requests.get(server.url + path, headers=headers, timeout=30)
    except requests.RequestException as err:
        return f"{path}: {type(err).__name__}"
    if r.status_code >= 300:
        return f"{path.split('?')[0]} answered {r.status_code}: {r.text[:120]}"
    wanted = {"lookup": key, "page": value}.get(v.shape)
    if wanted and wanted not in r.text:  # an empty page or another record is no answer
        return f"{path.split('?')[0]} answered {r.status_code} without {wanted!r}: {r.text[:120]}"
    return None


def measure(server: Server, variants: list[Variant], client: tuple[str, str], files: tuple[Path, Path],
            seconds: int, warmup: int) -> list[dict[str, Any]]:
    keys_file, values_file = files
    key = keys_file.read_text("utf-8").split()[0]
    value = values_file.read_text("utf-8").split()[0]
    rows = []
    for v in variants:
        row: dict[str, Any] = {"variant": v.name, "server": server.name, "shape": v.shape,
                               "auth_audit": v.auth, "path": v.path, "seconds": seconds, "warmup": warmup,
                               "threads": THREADS, "connections": CONNECTIONS}
        env = {"LGSP_WRK_KEYS": str(keys_file), "LGSP_WRK_VALUES": str(values_file)}
        headers: dict[str, str] = {}
        if v.auth:  # a fresh token per variant: tokens live 5 minutes
            env["LGSP_WRK_TOKEN"] = _token(server, client)
            env["LGSP_WRK_PURPOSE"] = PURPOSE
            headers = {"Authorization": f"Bearer {env['LGSP_WRK_TOKEN']}", "LGSP-Purpose": PURPOSE}
        why = _probe(server, v, headers, key, value)
        if why and v.fallback and not _probe(server, v, headers, key, value, v.fallback):
            row["note"] = f"measured on {v.fallback}: {why}"
            v, why = Variant(v.name, v.shape, v.fallback, v.auth), None
            row["path"] = v.path
        if why:
            rows.append({**row, "available": False, "note": f"not available: {why}"})
            continue
        if warmup:
            wrk(server.url, v.path, warmup, env)
        server.rss.reset()
        result = wrk(server.url, v.path, seconds, env)
        rows.append({"note": "", **row, "available": True, **result,
                     "peak_rss_mb": server.rss.peak_mb, "server_how": server.how})
    return rows


def _unavailable(name: str, server: str, shape: str, why: str) -> dict[str, Any]:
    return {"variant": name, "server": server, "shape": shape, "available": False,
            "note": f"not available: {why}"}


# ---- the run --------------------------------------------------------------------------

LOOKUP = f"/api/v1/datasets/{DATASET}/key/{{key}}"
PAGE = (f"/api/v1/datasets/{DATASET}?%24filter={FILTER_COLUMN}%20eq%20%27{{value}}%27"
        f"&%24top={PAGE_TOP}")
OURS = "lgsp (auth + audit)"
BARE = "lgsp (no auth/audit)"
PG = "lgsp on PostgreSQL (auth + audit)"
DATASETTE = "Datasette (SQLite)"
CEILING = "lgsp constant (ceiling)"
VARIANTS = [f"{OURS}: key lookup", f"{OURS}: filtered page", f"{BARE}: key lookup", CEILING,
            f"{PG}: key lookup", f"{PG}: filtered page", f"{DATASETTE}: key lookup",
            f"{DATASETTE}: filtered page"]
"""Every row of a run, in its order."""


def _lgsp(home: Path, extra: dict[str, str]) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    env = {**os.environ, "LGSP_HOME": str(home), "LGSP_BENCH_ENDPOINTS": "1", **extra}
    return ([sys.executable, "-m", "lgsp", "serve", "--port", str(port), "--workers", "2"], env, port)


def run(size: int = 1_200_000, seconds: int = 30, warmup: int = 5,
        log: Any = print) -> list[dict[str, Any]]:
    """Build the data, then measure every variant, one server at a time; returns the rows."""
    if not 1 <= seconds <= 240 or warmup < 0:
        raise ValueError("--duration is 1 to 240 s (wrk counts whole seconds; access tokens "
                         "live 5 minutes)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lgsp-bench-api-") as tmp:
        folder = Path(tmp)
        home = folder / "home"
        t0 = time.perf_counter()
        settings = build_home(home, size)
        communes, in_scope, keys_file, values_file = scope_and_keys(settings, folder)
        client = register_client(settings, communes)
        files = (keys_file, values_file)
        db_file = folder / f"{DATASET}.db"
        sqlite_rows = sqlite_copy(settings, db_file)
        log(f"data ready in {time.perf_counter() - t0:.0f} s: {sqlite_rows:,} curated rows, "
            f"{len(communes)} communes in the client's scope ({in_scope:,} rows)")

        ours = [Variant(f"{OURS}: key lookup", "lookup", LOOKUP, auth=True),
                Variant(f"{OURS}: filtered page", "page", PAGE, auth=True),
                Variant(f"{BARE}: key lookup", "lookup", f"/bench/lookup/{DATASET}/{{key}}"),
                Variant(CEILING, "constant", "/bench/constant", fallback="/healthz")]
        cmd, env, port = _lgsp(home, {})
        with serve("lgsp", cmd, env, port, "/healthz") as server:
            server.how = "lgsp serve --workers 2 (granian), serving copy of the current snapshot"
            log(f"{server.name} answering after {server.startup_s:.0f} s")
            rows += measure(server, ours, client, files, seconds, warmup)

        pg_variants = [Variant(f"{PG}: key lookup", "lookup", LOOKUP, auth=True),
                       Variant(f"{PG}: filtered page", "page", PAGE, auth=True)]
        try:
            from api.pg_copy import copy_to_postgres  # type: ignore[import-not-found,unused-ignore]
        except ImportError as err:
            rows += [_unavailable(v.name, "lgsp+pg", v.shape, f"api.pg_copy missing ({err})")
                     for v in pg_variants]
        else:
            with postgres_database(f"lgsp_bench_api_{os.getpid()}") as uri:
                t = time.perf_counter()
                copied = copy_to_postgres(settings, DATASET, uri)
                log(f"PostgreSQL copy: {copied:,} rows in {time.perf_counter() - t:.0f} s")
                cmd, env, port = _lgsp(home, {"LGSP_API_STORE_URI": uri})
                with serve("lgsp+pg", cmd, env, port, "/healthz") as server:
                    server.how = "lgsp serve --workers 2 (granian), LGSP_API_STORE_URI: PostgreSQL copy"
                    log(f"{server.name} answering after {server.startup_s:.0f} s")
                    rows += measure(server, pg_variants, client, files, seconds, warmup)

        port = free_port()
        cmd = [sys.executable, "-m", "datasette", "serve", "-i", str(db_file), "--host", "127.0.0.1",
               "--port", str(port), "--setting", "suggest_facets", "off"]
        table = f"/{DATASET}/{DATASET}"
        from importlib.metadata import version

        with serve("datasette", cmd, dict(os.environ), port, f"/{DATASET}.json") as server:
            server.how = (f"Datasette {version('datasette')}: datasette serve -i (immutable), "
                          "--setting suggest_facets off, one process")
            log(f"{server.name} answering after {server.startup_s:.0f} s")
            rows += measure(server, [
                Variant(f"{DATASETTE}: key lookup", "lookup", f"{table}/{{key}}.json"),
                Variant(f"{DATASETTE}: filtered page", "page",
                        f"{table}.json?{FILTER_COLUMN}={{value}}&_size={PAGE_TOP}&_nocount=1&_nofacet=1"),
            ], client, files, seconds, warmup)
    log(f"whole run: {time.perf_counter() - t0:.0f} s")
    for r in rows:
        r["size"] = size
        r["rows"] = sqlite_rows
    return rows


# ---- tables ---------------------------------------------------------------------------

def results_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    n = rows[0]["rows"] if rows else 0
    timed = next((r for r in rows if r.get("available")), {"seconds": 0, "warmup": 0})
    table = Table("variant", "req/s", "p50 ms", "p99 ms", "requests", "non-2xx", "socket err",
                  "server peak MB",
                  title=f"Agency API under wrk -t{THREADS} -c{CONNECTIONS} ({timed['seconds']} s after "
                        f"{timed['warmup']} s warm-up), population, {n:,} rows")
    hows = dict.fromkeys(r["server_how"] for r in rows if r.get("server_how"))
    table.caption = " | ".join(hows)
    for r in rows:
        if not r.get("available"):
            table.add_row(r["variant"], "-", "-", "-", "-", "-", "-", "-", style="yellow")
            table.add_row(f"  {r['note']}", "", "", "", "", "", "", "", style="dim yellow")
            continue
        table.add_row(r["variant"], f"{r['rps']:,.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                      f"{r['requests']:,.0f}", f"{r['non_2xx']:,.0f}", f"{r['socket_errors']:,.0f}",
                      f"{r['peak_rss_mb']:.0f}")
        if r.get("note"):
            table.add_row(f"  {r['note']}", "", "", "", "", "", "", "", style="dim")
    return table


def _find(rows: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["variant"] == name and r.get("available")), None)


def verdict_table(rows: list[dict[str, Any]]) -> Any:
    """The issue's targets: lookups with auth + audit >= 2.5x Datasette's req/s and >= the
    PostgreSQL variant's, p99 < 20 ms, auth + audit cost <= 15 % of throughput."""
    from rich.table import Table

    def get(name: str) -> dict[str, Any] | None:
        return _find(rows, name)

    ours, page = get(f"{OURS}: key lookup"), get(f"{OURS}: filtered page")
    bare, pg, pg_page = get(f"{BARE}: key lookup"), get(f"{PG}: key lookup"), get(f"{PG}: filtered page")
    ds, ds_page, ceiling = get(f"{DATASETTE}: key lookup"), get(f"{DATASETTE}: filtered page"), get(CEILING)

    def verdict(ok: bool) -> str:
        return "[green]met[/green]" if ok else "[red]missed[/red]"

    table = Table("measure", "value", "target", "result", title="Agency API: against the targets")

    def ratio(label: str, a: dict | None, b: dict | None, target: float | None) -> None:
        if a and b and b["rps"]:
            x = a["rps"] / b["rps"]
            table.add_row(label, f"{a['rps']:,.0f} / {b['rps']:,.0f} = {x:.2f}x",
                          f">= {target:g}x" if target else "", verdict(x >= target) if target else "")
        else:
            table.add_row(label, "not measured", f">= {target:g}x" if target else "", "-")

    ratio("lookups: lgsp (auth + audit) / Datasette", ours, ds, 2.5)
    ratio("lookups: lgsp (auth + audit) / lgsp on PostgreSQL", ours, pg, 1.0)
    if ours:
        table.add_row("lookups: lgsp (auth + audit) p99", f"{ours['p99_ms']:.1f} ms", "< 20 ms",
                      verdict(ours["p99_ms"] < 20))
    else:
        table.add_row("lookups: lgsp (auth + audit) p99", "not measured", "< 20 ms", "-")
    if ours and bare and bare["rps"]:
        cost = 1 - ours["rps"] / bare["rps"]
        table.add_row("auth + audit cost (1 - with / without, lookups)",
                      f"{cost:.0%} ({ours['rps']:,.0f} vs {bare['rps']:,.0f} req/s)", "<= 15 %",
                      verdict(cost <= 0.15))
    else:
        table.add_row("auth + audit cost (1 - with / without, lookups)", "not measured", "<= 15 %", "-")
    ratio("filtered page: lgsp (auth + audit) / Datasette", page, ds_page, None)
    ratio("filtered page: lgsp (auth + audit) / lgsp on PostgreSQL", page, pg_page, None)
    if page:
        table.add_row("filtered page: lgsp (auth + audit) p99", f"{page['p99_ms']:.1f} ms", "", "")
    ratio("lookups: lgsp (auth + audit) / constant (the ceiling)", ours, ceiling, None)
    errors = sum(r.get("non_2xx", 0) + r.get("socket_errors", 0) for r in rows if r.get("available"))
    table.add_row("non-2xx + socket errors, all variants", f"{errors:,.0f}", "0", verdict(errors == 0))
    return table
