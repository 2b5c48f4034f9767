"""A PostgreSQL 15 instance of the test's own with wal_level = logical (initdb and pg_ctl of the
installed server, run as the postgres user since they refuse root), on a free port with its
data directory under /tmp; the shared server on 5432 is never touched."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.land.conftest import land_data  # noqa: F401 - the seeded land registry fixture

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True,
                   capture_output=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def logical_server() -> Iterator[str]:
    """postgresql://postgres@127.0.0.1:<port> of a fresh wal_level=logical instance."""
    if not (BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="lgsp-pglogical-"))
    shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    _as_postgres(str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                 "--no-sync", "-E", "UTF8")
    options = (f"-c wal_level=logical -c port={port} -c listen_addresses=127.0.0.1 "
               f"-c unix_socket_directories={root} -c max_replication_slots=20 "
               "-c max_wal_senders=20 -c fsync=off")
    _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
                 "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_ctl"), "-D", str(data),
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
        assert not os.path.exists(root)
