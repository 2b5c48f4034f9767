"""SQLAlchemy models of the agency API's control-plane tables (`api_*`), on the control
database's one metadata (`control.models.Base`); created by migration 0002_api.

- `api_clients`: registered agencies (state active/revoked, the communes a row scope may
  refer to as `client.communes`).
- `api_credentials`: client secrets, only as scrypt hashes; rotation revokes the old ones.
- `api_grants`: per client and dataset: columns, masks, row scope (declarative clauses),
  purposes, legal basis, expiry, approval state for personal data, revocation.
- `api_audit` + `api_audit_subjects` + `api_audit_head` + `api_audit_checkpoints`: the
  append-only, hash-chained log (personal IDs only as keyed hashes, indexed for "who
  accessed"), the chain's head (last sequence number and hash) so a deleted tail is noticed,
  and signed checkpoints so a rewrite of log and head together is noticed too.
- `api_control_version`: one counter bumped with every client, credential or grant change
  (migration 0003), so workers may cache them and still see a revocation at once.
- `api_audit_journals`: how far each worker's audit journal is sealed into the chain
  (migration 0004; api/audit_journal.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.models import Base


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(Text)
    communes: Mapped[list[Any]] = mapped_column(JSON)
    """Commune codes a row scope may refer to as `client.communes`."""
    roles: Mapped[list[Any]] = mapped_column(JSON)
    """Extra rights beyond grants: `dpo` (the data protection officer's who-accessed)."""
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    """Requests per minute the client may make (429 with Retry-After beyond)."""
    state: Mapped[str] = mapped_column(String(20))
    """active | revoked"""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    grants: Mapped[list[ApiGrant]] = relationship(back_populates="client", lazy="selectin")


class ApiCredential(Base):
    __tablename__ = "api_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(300))
    """scrypt$n$r$p$salt$hash (base64): never the secret."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiGrant(Base):
    __tablename__ = "api_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(100), index=True)
    columns: Mapped[list[Any]] = mapped_column(JSON)
    masks: Mapped[dict[str, Any]] = mapped_column(JSON)
    """{column: mask name} (see grants.MASKS); a masked column is visible only masked."""
    row_scope: Mapped[list[Any]] = mapped_column(JSON)
    """AND of clauses {column, op: eq|in, values: [...] | "client.communes"}; [] = all rows."""
    purposes: Mapped[list[Any]] = mapped_column(JSON)
    legal_basis: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    personal: Mapped[bool] = mapped_column()
    """Grants a personal or sensitive-personal column (masked or not): needs approval."""
    approval: Mapped[str] = mapped_column(String(20))
    """not_required | requested | approved | refused"""
    decided_by: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    client: Mapped[ApiClient] = relationship(back_populates="grants")


class ApiAuditEntry(Base):
    __tablename__ = "api_audit"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True,
                                     autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    """ISO 8601 UTC, as hashed (a string, so no database rounds it)."""
    actor: Mapped[str] = mapped_column(Text, index=True)
    """A client id, or `cli:<user>` for a control-plane command."""
    action: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    dataset: Mapped[str | None] = mapped_column(String(100), nullable=True)
    query: Mapped[str | None] = mapped_column(Text, nullable=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    row_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    response_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subjects: Mapped[list[Any]] = mapped_column(JSON)
    """Keyed hashes (HMAC-SHA256) of the personal IDs the response carried."""
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    hash_version: Mapped[int] = mapped_column(Integer, server_default="1")
    """How `entry_hash` serialised the fields (api/audit.HASH_VERSION; 1 before migration 0004)."""


class ApiAuditSubject(Base):
    """Index for who-accessed: one row per (entry, keyed personal-ID hash)."""

    __tablename__ = "api_audit_subjects"

    seq: Mapped[int] = mapped_column(ForeignKey("api_audit.seq", ondelete="CASCADE"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class ApiAuditHead(Base):
    """The chain's head: one row (id 1), updated with every append under a row lock."""

    __tablename__ = "api_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))


class ApiAuditCheckpoint(Base):
    """A signed statement "the chain had N entries ending in hash H at time T" (Ed25519, the
    token key), written every audit.CHECKPOINT_EVERY entries and on `lgsp audit checkpoint`:
    rewriting the log and its head together is caught against the signatures."""

    __tablename__ = "api_audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    kid: Mapped[str] = mapped_column(String(40))
    signature: Mapped[str] = mapped_column(String(200))


class ApiControlVersion(Base):
    """One row (id 1) whose `version` is bumped with every change to clients, credentials
    or grants (api/control_version.py): workers cache clients and grants until it moves."""

    __tablename__ = "api_control_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class ApiAuditJournal(Base):
    """How far a worker's audit journal (api/audit_journal.py) is sealed into the chain:
    updated in the same transaction as the entries, so a line is chained exactly once."""

    __tablename__ = "api_audit_journals"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    sealed_bytes: Mapped[int] = mapped_column(BigInteger)
    sealed_lines: Mapped[int] = mapped_column(BigInteger)
