"""Secrets the API keeps under LGSP_HOME/keys: the HMAC key that turns personal IDs into
keyed hashes for the audit log. Created on first use with O_EXCL (two worker processes
starting together agree on one key), readable by the owner only."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from lgsp.config import Settings


def keys_dir(settings: Settings) -> Path:
    return settings.home / "keys"


def _read_or_create(path: Path, make: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if data:
            return data
        raise RuntimeError(f"{path}: key file is empty (delete it only if no audit entry used it)") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(make)
        fh.flush()
        os.fsync(fh.fileno())
    return make


@lru_cache(maxsize=8)
def audit_hmac_key(settings: Settings) -> bytes:
    """The key of the audit log's personal-ID hashes (32 random bytes), read once per process."""
    return _read_or_create(keys_dir(settings) / "audit_hmac.key", secrets.token_bytes(32))
