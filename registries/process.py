"""Run a simulated registry as a child process for tests, the CLI and benchmarks.

`RegistryProcess(module, args, port)` starts `python -m <module> --port <port> <args...>`
with the current interpreter, waits until `GET /health` answers 200, exposes `base_url`, and
stops the process on exit (SIGTERM, then SIGKILL). The child's output goes to a temporary
file whose tail is quoted when the process fails to start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import IO

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RegistryStartError(RuntimeError):
    """The registry process exited or did not become healthy in time."""


class RegistryProcess:
    """A registry served by a child process, as a context manager."""

    def __init__(
        self,
        module: str,
        args: list[str],
        port: int | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.args = list(args)
        self.port = port if port is not None else free_port()
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.env = env
        self.base_url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--port", str(self.port), *self.args]

    def start(self) -> RegistryProcess:
        if self.process is not None:
            raise RuntimeError(f"{self.module} is already started")
        # Kept open for the life of the process (closed in stop()).
        self._log = tempfile.TemporaryFile(prefix="registry-")  # noqa: SIM115
        env = {**os.environ, **(self.env or {})}
        self.process = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise RegistryStartError(
                    f"{self.module} exited with code {code} before answering /health; "
                    f"output:\n{self.output_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RegistryStartError(
                    f"{self.module} did not answer {self.base_url}/health within "
                    f"{self.startup_timeout:.0f}s; output:\n{self.output_tail()}"
                )
            time.sleep(0.05)

    def output_tail(self, limit: int = 4000) -> str:
        """The last characters the process wrote (stdout and stderr)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - limit))
        return self._log.read().decode("utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL the process at once (to simulate a crash) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM, wait up to stop_timeout, then SIGKILL; release the output file."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> RegistryProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
