"""Short-lived access tokens: JWTs signed with an Ed25519 key (EdDSA, PyJWT + cryptography).

The key pair is generated under LGSP_HOME/keys on first use (O_EXCL, so worker processes
starting together agree on one key); the public key is published as a JWK set so a
client or gateway can check a token. A token only proves who the client is: every request
still loads the client (state and grants) from the control database, so revoking a client
or a grant takes effect on the next request, not at token expiry.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from api.keys import _read_or_create, keys_dir
from lgsp.config import Settings

ISSUER = "lgsp"
AUDIENCE = "lgsp-api"
TTL = timedelta(minutes=5)
ALGORITHM = "EdDSA"


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    kid: str


def _new_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@lru_cache(maxsize=4)
def _load(path: Path) -> SigningKey:
    pem = _read_or_create(path, _new_private_pem())
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, Ed25519PrivateKey), f"{path}: not an Ed25519 key"
    public = private.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKey(private, public, hashlib.sha256(raw).hexdigest()[:16])


def signing_key(settings: Settings) -> SigningKey:
    return _load(keys_dir(settings) / "jwt_ed25519.pem")


def jwks(settings: Settings) -> dict[str, Any]:
    key = signing_key(settings)
    raw = key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": ALGORITHM, "use": "sig", "kid": key.kid,
                      "x": x}]}


def issue(settings: Settings, client_id: str, now: datetime | None = None) -> tuple[str, int]:
    """(token, lifetime in seconds) for an authenticated client."""
    now = now or datetime.now(UTC)
    key = signing_key(settings)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": client_id, "iat": int(now.timestamp()),
              "nbf": int(now.timestamp()), "exp": int((now + TTL).timestamp()),
              "jti": secrets.token_hex(8)}
    token = jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, int(TTL.total_seconds())


def verify(settings: Settings, token: str) -> str:
    """The client id a valid, unexpired token of ours names; TokenError otherwise."""
    try:
        claims = jwt.decode(token, signing_key(settings).public, algorithms=[ALGORITHM],
                            audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "aud", "iss"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("the access token has expired") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"the access token is not valid ({type(exc).__name__})") from None
    return str(claims["sub"])
