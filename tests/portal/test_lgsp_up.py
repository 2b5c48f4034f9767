"""`lgsp up` in a subprocess: runs the pipeline (one dataset, small), prints the portal's
address, serves the portal over what it published, and exits 0 on Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from registries.process import free_port


@pytest.mark.timeout(400)
def test_lgsp_up_runs_then_serves_the_portal_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LGSP_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "lgsp", "up", "business_registry", "--size", "2000",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    try:
        address = None
        for _ in range(1200):
            found = re.search(r"portal:\s+(http://127\.0\.0\.1:\d+/)", "".join(lines))
            if found:
                address = found.group(1)
                break
            assert proc.poll() is None, "".join(lines)[-3000:]
            time.sleep(0.25)
        assert address == f"http://127.0.0.1:{port}/", "".join(lines)[-3000:]
        for _ in range(240):
            try:
                home = requests.get(address, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.25)
        assert home.status_code == 200
        assert "business_registry" in home.text  # what it just published is on the home page
        dataset = requests.get(f"{address}dataset/business_registry", timeout=10)
        assert dataset.status_code == 200 and "/download/business_registry/" in dataset.text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, "".join(lines)[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
