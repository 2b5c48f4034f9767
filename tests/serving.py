"""`lgsp serve` in its own process, for tests over real HTTP: started on a free port of
127.0.0.1 in a process group of its own, waited for on /healthz (a clear error with its
output if it exits or stays silent for 60 s), and stopped with all its workers on exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from registries.process import free_port


@contextmanager
def served(home: Path, workers: int = 2) -> Iterator[str]:
    """Serve LGSP_HOME `home`; yields the base URL."""
    port = free_port()
    env = {**os.environ, "LGSP_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "lgsp", "serve", "--port", str(port),
                             "--workers", str(workers)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                raise RuntimeError(f"lgsp serve exited: {proc.stdout.read()[-3000:]}")  # type: ignore[union-attr]
            try:
                if requests.get(f"{url}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.25)
        else:
            raise RuntimeError("lgsp serve did not answer within 60 s")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: one process group
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
