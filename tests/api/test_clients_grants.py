"""Clients and grants on a real control database: secrets stored only as scrypt hashes,
rotation and revocation effective at once, personal-data grants usable only after the
owning agency's approval, a new grant replacing the old, every change audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from api import clients, grants
from api.models import ApiAuditEntry, ApiCredential
from tests.api.conftest import ACTOR

LATER = datetime.now(UTC) + timedelta(days=30)


def _actions(s) -> list[str]:  # type: ignore[no-untyped-def]
    return list(s.scalars(select(ApiAuditEntry.action).order_by(ApiAuditEntry.seq)))


def test_register_rotate_revoke(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        issued = clients.register(s, settings, name="Commune 10105", agency="UBND xa",
                                  communes=["10105"], actor=ACTOR)
    with session_factory() as s:
        stored = s.scalars(select(ApiCredential.secret_hash)).one()
        assert issued.secret not in stored and stored.startswith("scrypt$")
        raw = s.execute(text("SELECT * FROM api_credentials")).all()
        assert issued.secret not in repr(raw)
        assert clients.authenticate(s, issued.client_id, issued.secret) is not None
        assert clients.authenticate(s, issued.client_id, issued.secret + "x") is None
        new = clients.rotate(s, settings, issued.client_id, actor=ACTOR)
    with session_factory() as s:
        assert clients.authenticate(s, issued.client_id, issued.secret) is None
        assert clients.authenticate(s, issued.client_id, new.secret) is not None
        clients.revoke(s, settings, issued.client_id, actor=ACTOR)
    with session_factory() as s:
        assert clients.authenticate(s, issued.client_id, new.secret) is None
        assert [c.state for c in clients.list_clients(s)] == ["revoked"]
        assert _actions(s) == ["clients.register", "clients.rotate", "clients.revoke"]
        with pytest.raises(clients.ClientError, match="already revoked"):
            clients.revoke(s, settings, issued.client_id, actor=ACTOR)


def test_register_rejects_bad_communes(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s, pytest.raises(clients.ClientError, match="5-digit"):
        clients.register(s, settings, name="x", agency="y", communes=["1O105"], actor=ACTOR)


def test_personal_grant_needs_approval(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        cid = clients.register(s, settings, name="Hospital", agency="So Y te", communes=["10105"],
                               actor=ACTOR).client_id
        g = grants.grant(s, settings, client_id=cid, dataset="person_linked",
                         columns=["personal_id", "full_name", "residence_commune_code"],
                         masks={"personal_id": "last4"},
                         row_scope=[grants.parse_scope_clause("residence_commune_code in client.communes")],
                         purposes=["treatment"], legal_basis="Decree 13/2023 art. 17", expires_at=LATER,
                         actor=ACTOR)
        gid = g.id
        assert g.approval == "requested"
    with session_factory() as s:
        denied = grants.resolve_for(s, settings, cid, "person_linked", "treatment")
        assert (denied.allowed, denied.reason) == (False, "grant_not_approved")
        grants.approve(s, settings, gid, actor="cli:owner")
    with session_factory() as s:
        access = grants.resolve_for(s, settings, cid, "person_linked", "treatment")
        assert access.allowed and access.columns == ("personal_id", "full_name", "residence_commune_code")
        assert access.masks == {"personal_id": "last4"}
        assert access.predicate == '("residence_commune_code" = ?)' and access.params == ("10105",)
        assert access.scope == (("residence_commune_code", ("10105",)),)
        assert not grants.resolve_for(s, settings, cid, "person_linked", "marketing").allowed
        assert grants.resolve_for(s, settings, cid, "population", "treatment").reason == "not_granted"
        with pytest.raises(grants.GrantError, match="only a pending request"):
            grants.refuse(s, settings, gid, actor="cli:owner")
        assert _actions(s)[-2:] == ["grants.request", "grants.approve"]


def test_refused_and_replaced_and_revoked(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        cid = clients.register(s, settings, name="Tax", agency="Cuc Thue", actor=ACTOR).client_id
        first = grants.grant(s, settings, client_id=cid, dataset="business_registry",
                             columns=["enterprise_code", "owner_personal_id"], purposes=["tax"],
                             legal_basis="Law on Tax Administration", expires_at=LATER, actor=ACTOR)
        grants.refuse(s, settings, first.id, actor="cli:owner", note="owner ID not needed")
        assert grants.resolve_for(s, settings, cid, "business_registry", "tax").reason == "grant_refused"
        second = grants.grant(s, settings, client_id=cid, dataset="business_registry",
                              columns=["enterprise_code"], purposes=["tax"], row_scope=[
                                  grants.parse_scope_clause("enterprise_code = 0100109106")],
                              legal_basis="Law on Tax Administration", expires_at=LATER, actor=ACTOR)
        assert second.approval == "not_required"
        access = grants.resolve_for(s, settings, cid, "business_registry", "tax")
        assert access.allowed and access.columns == ("enterprise_code",)
        assert first.revoked_at is not None  # the new grant replaced the old
        grants.revoke(s, settings, second.id, actor=ACTOR)
        assert grants.resolve_for(s, settings, cid, "business_registry", "tax").reason == "not_granted"
        assert _actions(s)[1:] == ["grants.request", "grants.refuse", "grants.revoke", "grants.grant",
                                   "grants.revoke"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"columns": ["nope"]}, "not columns of"),
    ({"masks": {"full_name": "year"}}, "does not apply"),
    ({"masks": {"sex": "last4"}}, "not granted"),
    ({"row_scope": [{"column": "x", "op": "eq", "values": ["1"]}]}, "row scope"),
    ({"purposes": [" "]}, "purpose"),
    ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, "not in the future"),
    ({"dataset": "nothing"}, "no dataset"),
])
def test_bad_grants_are_refused_by_name(settings, session_factory, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        cid = clients.register(s, settings, name="x", agency="y", actor=ACTOR).client_id
        args = {"client_id": cid, "dataset": "population", "columns": ["full_name"], "purposes": ["p"],
                "legal_basis": "law", "expires_at": LATER, "actor": ACTOR, **kwargs}
        with pytest.raises(grants.GrantError, match=message):
            grants.grant(s, settings, **args)


def test_expired_grant_is_denied(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        cid = clients.register(s, settings, name="x", agency="y", actor=ACTOR).client_id
        grants.grant(s, settings, client_id=cid, dataset="land_parcels", columns=["parcel_id"],
                     purposes=["planning"], legal_basis="Land Law 2024", expires_at=LATER, actor=ACTOR)
        assert grants.resolve_for(s, settings, cid, "land_parcels", "planning").allowed
        after = LATER + timedelta(seconds=1)
        denied = grants.resolve_for(s, settings, cid, "land_parcels", "planning", after)
        assert denied.reason == "grant_expired"
