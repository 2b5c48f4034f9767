"""A throwaway PostgreSQL 15 server with wal_level = logical (and two-phase commit enabled),
for the log-based capture tests, the prepared-transaction test and the bench: initdb and pg_ctl
of the installed server, run as the postgres user (they refuse root), data directory under
/tmp, a free port on 127.0.0.1. Never the shared server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> bool:
    return (BIN / "initdb").exists() and shutil.which("runuser") is not None


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True,
                   capture_output=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def logical_server() -> Iterator[str]:
    """Yields postgresql://postgres@127.0.0.1:<port>; stops the server and removes its files."""
    root = Path(tempfile.mkdtemp(prefix="lgsp-pglogical-"))
    shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    try:
        _as_postgres(str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                     "--no-sync", "-E", "UTF8")
        options = (f"-c wal_level=logical -c port={port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={root} -c max_replication_slots=20 "
                   "-c max_wal_senders=20 -c max_prepared_transactions=10 -c fsync=off")
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
                     "-w", "start")
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_ctl"), "-D", str(data),
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
