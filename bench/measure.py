"""Running one contender in a fresh process and reading its peak memory.

Each contender runs as `python -m bench.<module> <contender> ...` and prints one JSON line
of stage results; peak memory is the process's own ru_maxrss, so contenders never share a
heap and the numbers are comparable.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Stage:
    name: str
    rows: int
    seconds: float
    peak_mb: float
    detail: bool = False
    """A part of the stage before it (shown, never added to totals)."""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def timed(name: str, fn: Callable[[], int]) -> Stage:
    start = time.perf_counter()
    rows = fn()
    return Stage(name, rows, time.perf_counter() - start, peak_mb())


def emit(stages: list[Stage], **extra: Any) -> None:
    print("BENCH " + json.dumps({"stages": [s.__dict__ for s in stages], **extra}))


def run_contender(module: str, args: list[str], env: dict[str, str] | None = None,
                  timeout: float = 3600) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"{module} {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
