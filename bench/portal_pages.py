"""The portal's dataset and search pages under load from a separate process (wrk), side by
side in one run with the same pages served as static files by the same server (the floor:
granian + Starlette StaticFiles, no rendering, no database).

Serves the LGSP home of the environment (run `lgsp run` first) with `lgsp serve` (granian, 2
workers). The rendered pages are saved under portal/static/_bench/ for the static run (the
portal's own static mount) and removed afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PAGES = {"dataset": "/dataset/business_registry", "search": "/search?q=doanh+nghiep&format=csv"}
WRK = shutil.which("wrk") or "/usr/bin/wrk"
BENCH_STATIC = Path(__file__).resolve().parents[1] / "portal" / "static" / "_bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run([WRK, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert p50 and p99 and rps, out
    return {"p50_ms": _ms(p50.group(1)), "p99_ms": _ms(p99.group(1)), "rps": float(rps.group(1)),
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def run(seconds: int = 8, connections: int = 8) -> list[dict]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "lgsp", "serve", "--port", str(port)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    rows: list[dict] = []
    try:
        for _ in range(240):
            try:
                if requests.get(f"{base}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.25)
        BENCH_STATIC.mkdir(parents=True, exist_ok=True)
        for name, path in PAGES.items():
            page = requests.get(base + path, timeout=30)
            page.raise_for_status()
            (BENCH_STATIC / f"{name}.html").write_text(page.text, "utf-8")
            wrk(base + path, 2, connections)  # warm both workers
            for kind, url in (("portal (rendered)", base + path),
                              ("static file (floor)", f"{base}/portal-static/_bench/{name}.html")):
                result = wrk(url, seconds, connections)
                rows.append({"page": name, "served_as": kind, "bytes": len(page.content),
                             "connections": connections, "seconds": seconds, **result})
    finally:
        shutil.rmtree(BENCH_STATIC, ignore_errors=True)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return rows
