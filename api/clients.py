"""Registered agency clients and their credentials: register, rotate, revoke, list, and
authenticate (client id + secret, for the token endpoint). A secret is shown once, at
register or rotate, and stored only as a scrypt hash. Every change is audited in the same
transaction as the change itself."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api import audit, control_version
from api.models import ApiClient, ApiCredential
from api.secrets_hash import check_secret, hash_secret, new_secret
from lgsp.config import Settings

_COMMUNE = re.compile(r"^\d{5}$")
DEFAULT_RATE = 6000
ROLES = frozenset({"dpo"})
"""dpo: the data protection officer may ask who accessed a person's record."""


class ClientError(ValueError):
    """A control-plane request that cannot be carried out (the message says why)."""


@dataclass(frozen=True)
class Issued:
    client_id: str
    secret: str
    """Shown once; only its hash is kept."""


def _now() -> datetime:
    return datetime.now(UTC)


def get(session: Session, client_id: str) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise ClientError(f"no client {client_id!r}")
    return client


def register(session: Session, settings: Settings, *, name: str, agency: str,
             communes: list[str] | None = None, rate_per_minute: int = DEFAULT_RATE,
             roles: list[str] | None = None, actor: str) -> Issued:
    name, agency = name.strip(), agency.strip()
    if not name or not agency:
        raise ClientError("a client needs a name and an agency")
    communes = sorted(set(communes or []))
    bad = [c for c in communes if not _COMMUNE.match(c)]
    if bad:
        raise ClientError(f"communes: {bad} are not 5-digit commune codes")
    roles = sorted(set(roles or []))
    if set(roles) - ROLES:
        raise ClientError(f"roles: {sorted(set(roles) - ROLES)} unknown (known: {sorted(ROLES)})")
    if rate_per_minute < 1:
        raise ClientError("rate_per_minute must be at least 1")
    client_id = "cl_" + secrets.token_hex(8)
    secret = new_secret()
    now = _now()
    session.add(ApiClient(id=client_id, name=name, agency=agency, communes=communes, state="active",
                          roles=roles, rate_per_minute=rate_per_minute, created_at=now))
    session.flush()
    session.add(ApiCredential(client_id=client_id, secret_hash=hash_secret(secret), created_at=now))
    control_version.bump(session)
    audit.append(session, settings, actor=actor, action="clients.register",
                 details={"client": client_id, "name": name, "agency": agency, "communes": communes,
                          "rate_per_minute": rate_per_minute, "roles": roles})
    return Issued(client_id, secret)


def rotate(session: Session, settings: Settings, client_id: str, *, actor: str) -> Issued:
    """A new secret; every older one stops working now."""
    client = get(session, client_id)
    if client.state != "active":
        raise ClientError(f"client {client_id} is {client.state}: register a new one")
    now = _now()
    session.execute(update(ApiCredential).where(ApiCredential.client_id == client_id,
                                                ApiCredential.revoked_at.is_(None))
                    .values(revoked_at=now))
    secret = new_secret()
    session.add(ApiCredential(client_id=client_id, secret_hash=hash_secret(secret), created_at=now))
    control_version.bump(session)
    audit.append(session, settings, actor=actor, action="clients.rotate", details={"client": client_id})
    return Issued(client_id, secret)


def revoke(session: Session, settings: Settings, client_id: str, *, actor: str) -> None:
    """The client, its credentials and so its tokens stop working at once."""
    client = get(session, client_id)
    if client.state == "revoked":
        raise ClientError(f"client {client_id} is already revoked")
    now = _now()
    client.state, client.revoked_at = "revoked", now
    session.execute(update(ApiCredential).where(ApiCredential.client_id == client_id,
                                                ApiCredential.revoked_at.is_(None))
                    .values(revoked_at=now))
    control_version.bump(session)
    audit.append(session, settings, actor=actor, action="clients.revoke", details={"client": client_id})


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.created_at)))


def authenticate(session: Session, client_id: str, secret: str) -> ApiClient | None:
    """The active client whose current secret this is, else None (no hint which part failed)."""
    client = session.get(ApiClient, client_id)
    if client is None or client.state != "active":
        return None
    creds = session.scalars(select(ApiCredential).where(ApiCredential.client_id == client_id,
                                                        ApiCredential.revoked_at.is_(None))).all()
    return client if any(check_secret(secret, c.secret_hash) for c in creds) else None
