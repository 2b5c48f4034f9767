"""Authentication and authorisation without a database session per request.

- Verified access tokens are cached (token -> client id until the token's `exp`): the
  Ed25519 signature is checked once per token and worker, not per request.
- Clients with their grants are cached per worker, tagged with the control-plane version
  (api/control_version.py) they were read at; each request reads the version once and
  reloads the client when it moved. A revoke, rotate, grant, approve or refuse committed
  before a request starts is seen by it: revocation is still immediate.
- The access decision is api/grants.resolve's, memoised per (cached client, dataset,
  purpose) until the grant's expiry: a reloaded client (the version moved) is a new
  object, so its decisions are made afresh; an expiry passes at its exact time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jwt

from api import control_version, grants, tokens
from api.models import ApiClient
from control import db
from lgsp.config import Settings

MAX_TOKENS = 10_000
_tokens: dict[str, tuple[str, float]] = {}
_clients: dict[tuple[str, str], tuple[int, ApiClient | None]] = {}
_lock = threading.Lock()


def client_id(settings: Settings, token: str) -> str:
    """The client a valid, unexpired token names (tokens.TokenError otherwise)."""
    hit = _tokens.get(token)
    now = time.time()
    if hit is not None and hit[1] > now:
        return hit[0]
    sub = tokens.verify(settings, token)
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    with _lock:
        if len(_tokens) >= MAX_TOKENS:
            _tokens.clear()
        _tokens[token] = (sub, float(claims["exp"]))
    return sub


_access: dict[tuple[int, str, str | None], tuple[ApiClient, Any, datetime]] = {}
MAX_ACCESS = 10_000


def access(client_: ApiClient, dataset: str, purpose: str | None, now: datetime,
           schema: Mapping[str, str]) -> grants.Access:
    """grants.resolve(client_, dataset, purpose, now, schema), memoised (see the module)."""
    key = (id(client_), dataset, purpose)
    hit = _access.get(key)
    if hit is not None and hit[0] is client_ and now < hit[2]:
        return hit[1]  # type: ignore[no-any-return]
    decided = grants.resolve(client_, dataset, purpose, now, schema)
    until = next((grants._utc(g.expires_at) for g in client_.grants if g.id == decided.grant_id),
                 None) if decided.grant_id is not None else None
    if until is not None and decided.allowed:
        with _lock:
            if len(_access) >= MAX_ACCESS:
                _access.clear()
            _access[key] = (client_, decided, until)
    return decided


def client(settings: Settings, cid: str) -> ApiClient | None:
    """The client as committed now, with its grants (None: no such client)."""
    version = control_version.current(settings)
    key = (settings.control_db_uri, cid)
    hit = _clients.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    with db.session(settings) as s:
        found = s.get(ApiClient, cid)
        if found is not None:
            _ = list(found.grants)  # loaded before the session closes (detached after)
    with _lock:
        _clients[key] = (version, found)
    return found
