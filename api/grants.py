"""Grants per client and dataset, and the one function that decides what a request may see.

A grant names the columns a client may read (a personal column absent unless granted, or
granted masked: `last4` shows the last four characters, `year` only a date's year), the
rows (an AND of declarative clauses: `column = value`, `column in [values]`, or
`column in client.communes`), the purposes a request may state, a legal basis and an
expiry. A grant touching personal or sensitive-personal columns starts `requested` and is
usable only once the owning agency approved it. One live grant per client and dataset:
granting again revokes the previous one. Every change is audited.

`resolve(client, dataset, purpose, now, schema)` is the only place that turns a grant into
visible columns, masks and a row-scope SQL predicate (with parameters); every query shape
asks it, and it denies by default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import audit, control_version, dialects
from api.clients import ClientError, get
from api.models import ApiClient, ApiGrant
from catalog.spec import DatasetSpec, load_specs
from lgsp.config import Settings

PERSONAL = frozenset({"personal", "sensitive-personal"})
MASKS: dict[str, tuple[str, ...]] = {"last4": ("string",), "year": ("date", "timestamp")}
"""Mask name -> column types it applies to."""
CLIENT_COMMUNES = "client.communes"
_SCOPE = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(=|in)\s*(.+?)\s*$")


class GrantError(ClientError):
    pass


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_scope_clause(text: str) -> dict[str, Any]:
    """`col = v`, `col in v1,v2`, `col in client.communes` -> a row-scope clause."""
    m = _SCOPE.match(text)
    if not m:
        raise GrantError(f"row scope {text!r}: expected 'column = value', 'column in v1,v2' "
                         f"or 'column in {CLIENT_COMMUNES}'")
    column, op, rest = m.groups()
    if op == "=":
        return {"column": column, "op": "eq", "values": [rest]}
    if rest == CLIENT_COMMUNES:
        return {"column": column, "op": "in", "values": CLIENT_COMMUNES}
    return {"column": column, "op": "in", "values": [v.strip() for v in rest.split(",") if v.strip()]}


def _spec(settings: Settings, dataset: str) -> DatasetSpec:
    for spec in load_specs(settings.specs_dir):
        if spec.id == dataset:
            return spec
    raise GrantError(f"no dataset {dataset!r}")


def _check(spec: DatasetSpec, columns: list[str], masks: dict[str, str],
           row_scope: list[dict[str, Any]]) -> None:
    known = {c.name: c for c in spec.columns}
    if not columns:
        raise GrantError("a grant needs at least one column")
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise GrantError(f"columns {unknown} are not columns of {spec.id}")
    for col, mask in masks.items():
        if col not in columns:
            raise GrantError(f"mask on {col!r}: the column is not granted")
        if mask not in MASKS:
            raise GrantError(f"mask {mask!r} on {col!r}: known masks are {sorted(MASKS)}")
        if known[col].type not in MASKS[mask]:
            raise GrantError(f"mask {mask!r} does not apply to {col!r} ({known[col].type})")
    for clause in row_scope:
        col, op, values = clause.get("column"), clause.get("op"), clause.get("values")
        if col not in known:
            raise GrantError(f"row scope: {col!r} is not a column of {spec.id}")
        if op not in ("eq", "in"):
            raise GrantError(f"row scope on {col!r}: operator {op!r} (eq or in)")
        if values != CLIENT_COMMUNES and not (isinstance(values, list) and values
                                              and all(isinstance(v, str) for v in values)):
            raise GrantError(f"row scope on {col!r}: values must be a non-empty list or "
                             f"{CLIENT_COMMUNES}")


def grant(session: Session, settings: Settings, *, client_id: str, dataset: str, columns: list[str],
          purposes: list[str], legal_basis: str, expires_at: datetime, actor: str,
          masks: dict[str, str] | None = None, row_scope: list[dict[str, Any]] | None = None,
          now: datetime | None = None) -> ApiGrant:
    """A new grant (replacing the client's live grant on this dataset). On personal data it
    is a request awaiting the owning agency's approval."""
    now = now or datetime.now(UTC)
    client = get(session, client_id)
    if client.state != "active":
        raise GrantError(f"client {client_id} is {client.state}")
    spec = _spec(settings, dataset)
    masks, row_scope = dict(masks or {}), list(row_scope or [])
    columns = list(dict.fromkeys(columns))
    _check(spec, columns, masks, row_scope)
    purposes = sorted({p.strip() for p in purposes if p.strip()})
    if not purposes:
        raise GrantError("a grant needs at least one purpose")
    if not legal_basis.strip():
        raise GrantError("a grant needs a legal basis")
    if _utc(expires_at) <= now:
        raise GrantError(f"expiry {expires_at.isoformat()} is not in the future")
    personal = any(spec.column(c).classification in PERSONAL for c in columns)
    for old in session.scalars(select(ApiGrant).where(ApiGrant.client_id == client_id,
                                                      ApiGrant.dataset_id == dataset,
                                                      ApiGrant.revoked_at.is_(None))):
        _revoke(session, settings, old, actor=actor, now=now, reason="replaced")
    g = ApiGrant(client_id=client_id, dataset_id=dataset, columns=columns, masks=masks,
                 row_scope=row_scope, purposes=purposes, legal_basis=legal_basis.strip(),
                 expires_at=_utc(expires_at), personal=personal,
                 approval="requested" if personal else "not_required", created_by=actor,
                 created_at=now)
    session.add(g)
    session.flush()
    control_version.bump(session)
    audit.append(session, settings, actor=actor, action="grants.request" if personal else "grants.grant",
                 dataset=dataset, details={"grant": g.id, "client": client_id, "columns": columns,
                                           "masks": masks, "row_scope": row_scope, "purposes": purposes,
                                           "legal_basis": g.legal_basis,
                                           "expires_at": g.expires_at.isoformat()})
    return g


def _get(session: Session, grant_id: int) -> ApiGrant:
    g = session.get(ApiGrant, grant_id)
    if g is None:
        raise GrantError(f"no grant {grant_id}")
    return g


def _decide(session: Session, settings: Settings, grant_id: int, decision: str, *, actor: str,
            note: str | None) -> ApiGrant:
    g = _get(session, grant_id)
    if g.approval != "requested" or g.revoked_at is not None:
        raise GrantError(f"grant {grant_id} is {'revoked' if g.revoked_at else g.approval}: "
                         "only a pending request can be decided")
    owner = _spec(settings, g.dataset_id).owner.agency.en
    g.approval, g.decided_by, g.decided_at, g.decision_note = decision, actor, datetime.now(UTC), note
    action = "grants.approve" if decision == "approved" else "grants.refuse"
    control_version.bump(session)
    audit.append(session, settings, actor=actor, action=action,
                 dataset=g.dataset_id, details={"grant": g.id, "client": g.client_id, "owner": owner,
                                                "note": note})
    return g


def approve(session: Session, settings: Settings, grant_id: int, *, actor: str,
            note: str | None = None) -> ApiGrant:
    """The owning agency approves a request for personal data."""
    return _decide(session, settings, grant_id, "approved", actor=actor, note=note)


def refuse(session: Session, settings: Settings, grant_id: int, *, actor: str,
           note: str | None = None) -> ApiGrant:
    return _decide(session, settings, grant_id, "refused", actor=actor, note=note)


def _revoke(session: Session, settings: Settings, g: ApiGrant, *, actor: str, now: datetime,
            reason: str) -> None:
    g.revoked_at = now
    control_version.bump(session)
    audit.append(session, settings, actor=actor, action="grants.revoke", dataset=g.dataset_id,
                 details={"grant": g.id, "client": g.client_id, "reason": reason})


def revoke(session: Session, settings: Settings, grant_id: int, *, actor: str) -> ApiGrant:
    g = _get(session, grant_id)
    if g.revoked_at is not None:
        raise GrantError(f"grant {grant_id} is already revoked")
    _revoke(session, settings, g, actor=actor, now=datetime.now(UTC), reason="revoked")
    return g


def list_grants(session: Session, client_id: str | None = None) -> list[ApiGrant]:
    q = select(ApiGrant).order_by(ApiGrant.id)
    if client_id:
        q = q.where(ApiGrant.client_id == client_id)
    return list(session.scalars(q))


# ---- resolution -------------------------------------------------------------------------

@dataclass(frozen=True)
class Access:
    """What one request may see. `allowed` False: nothing (reason says why)."""

    allowed: bool
    reason: str
    grant_id: int | None = None
    columns: tuple[str, ...] = ()
    """Visible columns, in the dataset's order (masked ones included, as masked)."""
    masks: Mapping[str, str] = field(default_factory=dict)
    predicate: str = "FALSE"
    """Row scope as a SQL predicate with `?` placeholders; "FALSE" when denied."""
    params: tuple[Any, ...] = ()
    scope: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    """The same row scope as terms (column, values), ANDed: the column holds one of the
    values (none: no row). `predicate` spells it for every engine; a dialect may spell it
    its own way (api/dialects.Dialect.scope: SQLite looks long lists up in a temp table).
    None: `predicate` alone (TRUE for an owner)."""

    @property
    def clear_columns(self) -> tuple[str, ...]:
        """Visible unmasked columns: the only ones a query may filter, order or count on."""
        return tuple(c for c in self.columns if c not in self.masks)

    def select_sql(self, dialect: str = "duckdb") -> list[str]:
        """One SQL expression per visible column (masked ones masked), aliased to its name."""
        return [mask_sql(c, self.masks.get(c), dialect) for c in self.columns]

    def predicate_sql(self, dialect: str = "duckdb") -> str:
        """The row scope in `dialect`'s placeholder style (TRUE, FALSE, `=` and IN are
        spelled alike in DuckDB, SQLite and PostgreSQL)."""
        return dialects.get(dialect).params(self.predicate)


def mask_sql(column: str, mask: str | None, dialect: str = "duckdb") -> str:
    """The SQL showing `column` as the grant allows (masked when `mask`), in `dialect`
    (duckdb, sqlite or postgres: api/dialects.py spells it)."""
    return dialects.get(dialect).mask(column, mask)


def _deny(reason: str, grant_id: int | None = None) -> Access:
    return Access(False, reason, grant_id)


def resolve(client: ApiClient | None, dataset: str, purpose: str | None, now: datetime,
            schema: Mapping[str, str]) -> Access:
    """The client's access to `dataset` for `purpose` at `now`; `schema` maps the dataset's
    current columns to their classification. Denied unless a live, unexpired, approved (when
    personal) grant names this purpose and every column and scope column still exists."""
    if client is None:
        return _deny("unknown_client")
    if client.state != "active":
        return _deny("client_revoked")
    live = [g for g in client.grants if g.dataset_id == dataset and g.revoked_at is None]
    if not live:
        return _deny("not_granted")
    g = max(live, key=lambda x: (_utc(x.created_at), x.id or 0))
    if _utc(g.expires_at) <= _utc(now):
        return _deny("grant_expired", g.id)
    personal = g.personal or any(schema.get(c) in PERSONAL for c in g.columns)
    if personal and g.approval != "approved":
        return _deny("grant_refused" if g.approval == "refused" else "grant_not_approved", g.id)
    if g.approval == "refused":
        return _deny("grant_refused", g.id)
    if not purpose or purpose not in g.purposes:
        return _deny("purpose_not_granted", g.id)
    columns = tuple(c for c in schema if c in set(g.columns))
    if not columns:
        return _deny("no_columns", g.id)
    masks = {c: m for c, m in (g.masks or {}).items() if c in columns}
    terms: list[tuple[str, tuple[str, ...]]] = []
    for clause in g.row_scope or []:
        col, values = clause.get("column"), clause.get("values")
        if col not in schema:
            return _deny("scope_invalid", g.id)
        if values == CLIENT_COMMUNES:
            values = list(client.communes or [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return _deny("scope_invalid", g.id)
        if clause.get("op") == "eq" and len(values) != 1 or clause.get("op") not in ("eq", "in"):
            return _deny("scope_invalid", g.id)
        terms.append((col, tuple(values)))  # an empty list: in no value, no row
    predicate, params, _ = dialects.get(dialects.DUCKDB).scope(terms)
    return Access(True, "granted", g.id, columns, masks, predicate, tuple(params), tuple(terms))


def resolve_for(session: Session, settings: Settings, client_id: str, dataset: str,
                purpose: str | None, now: datetime | None = None) -> Access:
    """`resolve` with the client and the dataset's schema loaded (unknown dataset: denied)."""
    try:
        spec = _spec(settings, dataset)
    except GrantError:
        return _deny("unknown_dataset")
    client = session.get(ApiClient, client_id)
    schema = {c.name: c.classification for c in spec.columns}
    return resolve(client, dataset, purpose, now or datetime.now(UTC), schema)


# ---- the portal's quarantine view ---------------------------------------------------------

def _agency_name(text: str) -> str:
    import unicodedata

    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def quarantine_access(client: ApiClient | None, spec: DatasetSpec) -> Access:
    """May `client` see the quarantined rows of `spec` (the values as delivered, personal
    ones included) on the portal? Only an active client of the dataset's owner agency: the
    client's registered agency is the spec's owner agency (its Vietnamese or English name,
    case and spacing aside, or the catalogue's slug of it). Denied otherwise."""
    from opendata.vocabularies import slug

    if client is None:
        return _deny("unknown_client")
    if client.state != "active":
        return _deny("client_revoked")
    mine = _agency_name(client.agency or "")
    owner = spec.owner.agency
    if not mine or mine not in {_agency_name(owner.vi), _agency_name(owner.en), slug(owner.en)}:
        return _deny("not_owner")
    return Access(True, "owner", columns=tuple(c.name for c in spec.columns), predicate="TRUE")
