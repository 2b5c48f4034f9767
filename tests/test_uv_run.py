"""`uv run` starts the command without recompiling the environment first (with
`compile-bytecode = true` in [tool.uv], uv recompiled 11,000+ files at every `uv run` and
printed "Bytecode compiled ..."; the image compiles once at build instead)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from lgsp.config import PROJECT_ROOT


def test_uv_run_does_not_compile_bytecode_each_time():
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    env = {k: v for k, v in os.environ.items()
           if k not in ("UV_COMPILE_BYTECODE", "UV_NO_SYNC", "UV_FROZEN")}
    runs = [subprocess.run([uv, "run", "--frozen", "python", "-c", "pass"], cwd=PROJECT_ROOT,
                           env=env, capture_output=True, text=True, timeout=600, check=True)
            for _ in range(2)]
    assert "Bytecode compiled" not in runs[1].stderr, runs[1].stderr


def test_the_image_compiles_bytecode_once_at_build():
    syncs = [line for line in (PROJECT_ROOT / "Dockerfile").read_text("utf-8").splitlines()
             if "uv sync" in line]
    assert syncs and all("--compile-bytecode" in line for line in syncs)
