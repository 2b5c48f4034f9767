"""The portal's agency session: sign-in with the agency API's client credentials, a signed
session cookie, CSRF tokens for the forms, and who is signed in on a request.

- The session cookie is a JWT signed with the API's Ed25519 key (api/tokens) but with its
  own audience (`lgsp-portal`), so it is no API bearer token and an API token is no session.
  It lives `TTL` (short), is HttpOnly, SameSite=Strict, Secure when the request came over
  https, and names only the client id: `signed_in()` loads the client from the control
  database on every request, so a revoked client is signed out at once.
- CSRF: a random nonce in its own HttpOnly, SameSite=Strict cookie; a form carries the
  HMAC-SHA256 of it (key under LGSP_HOME/keys). A POST passes only with both, matching, and
  with no foreign Origin header. No JavaScript involved.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Request, Response
from sqlalchemy.orm import Session

from api.keys import _read_or_create, keys_dir
from api.models import ApiClient
from api.tokens import ALGORITHM, ISSUER, signing_key
from lgsp.config import Settings

AUDIENCE = "lgsp-portal"
TTL = timedelta(minutes=30)
SESSION_COOKIE = "lgsp_session"
CSRF_COOKIE = "lgsp_csrf"
NO_STORE = {"Cache-Control": "private, no-store", "Vary": "Cookie"}
"""Headers of every page that depends on who is signed in: no shared cache may keep it."""


def _secure(request: Request) -> bool:
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or proto == "https"


def _set(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=_secure(request))


# ---- session ------------------------------------------------------------------------------

def issue(settings: Settings, client_id: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    key = signing_key(settings)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": client_id, "iat": int(now.timestamp()),
              "exp": int((now + TTL).timestamp()), "jti": secrets.token_hex(8)}
    return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})


def client_id_of(settings: Settings, token: str | None) -> str | None:
    """The client id a valid, unexpired session token names; None otherwise."""
    if not token:
        return None
    try:
        claims = jwt.decode(token, signing_key(settings).public, algorithms=[ALGORITHM],
                            audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "aud", "iss"]})
    except jwt.PyJWTError:
        return None
    return str(claims["sub"])


def signed_in(request: Request, settings: Settings, session: Session) -> ApiClient | None:
    """The active client this request's session names, read now (None: signed out)."""
    cid = client_id_of(settings, request.cookies.get(SESSION_COOKIE))
    if cid is None:
        return None
    client = session.get(ApiClient, cid)
    return client if client is not None and client.state == "active" else None


def start(response: Response, request: Request, settings: Settings, client_id: str) -> None:
    _set(response, request, SESSION_COOKIE, issue(settings, client_id), int(TTL.total_seconds()))


def end(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=_secure(request))


# ---- CSRF ---------------------------------------------------------------------------------

def _csrf_key(settings: Settings) -> bytes:
    return _read_or_create(keys_dir(settings) / "portal_csrf.key", secrets.token_bytes(32))


def _mac(settings: Settings, nonce: str) -> str:
    return hmac.new(_csrf_key(settings), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request, settings: Settings) -> tuple[str, str | None]:
    """(the token a form carries, a new nonce to set as cookie or None if it is set)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    fresh = None
    if not nonce or len(nonce) > 100:
        nonce = fresh = secrets.token_urlsafe(24)
    return _mac(settings, nonce), fresh


def set_csrf(response: Response, request: Request, nonce: str | None) -> None:
    if nonce is not None:
        _set(response, request, CSRF_COOKIE, nonce, None)


def csrf_ok(request: Request, settings: Settings, form: dict[str, Any]) -> bool:
    """The form's token is the HMAC of this browser's nonce, and the POST is not cross-site."""
    origin = request.headers.get("origin")
    if origin is not None:
        own = {str(request.base_url).rstrip("/")}
        if _secure(request):
            own.add(str(request.base_url.replace(scheme="https")).rstrip("/"))
        if origin.rstrip("/") not in own:  # another site, or "null" (a sandboxed page)
            return False
    nonce = request.cookies.get(CSRF_COOKIE)
    token = str(form.get("csrf") or "")
    return bool(nonce) and bool(token) and hmac.compare_digest(token, _mac(settings, nonce))


def safe_next(target: str | None) -> str | None:
    """A local path to go to after sign-in (never another site: no scheme, no //, no \\)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
