"""The hash-chained audit log on a real control database: an intact chain verifies; editing,
deleting (in the middle or at the end) or reordering entries is detected and the entry
named; who-accessed answers from keyed hashes, and no personal ID is stored in clear."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from api import audit

PID_A, PID_B = "001089012345", "079190054321"
COLS = ("at", "actor", "action", "purpose", "dataset", "query", "snapshot_id", "row_count",
        "response_sha256", "subjects", "details", "prev_hash", "entry_hash")


def _session(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    """A scripted session: three clients read people, one control-plane change."""
    reads = [("cl_hospital", "treatment", [PID_A]), ("cl_commune", "benefit", [PID_A, PID_B]),
             ("cl_tax", "tax", []), ("cl_hospital", "treatment", [PID_B])]
    with session_factory() as s:
        audit.append(s, settings, actor="cli:admin", action="clients.register", details={"client": "x"})
    for client, purpose, people in reads:
        with session_factory() as s:
            audit.append(s, settings, actor=client, action="query", purpose=purpose,
                         dataset="person_linked", query="$filter=personal_id eq @p", snapshot_id=7,
                         row_count=len(people), response_sha256="ab" * 32, personal_ids=people)


def test_intact_chain_and_who_accessed(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    _session(settings, session_factory)
    with session_factory() as s:
        assert audit.verify(s) == []
        got = [(a.client, a.purpose) for a in audit.who_accessed(s, settings, PID_A)]
        assert got == [("cl_hospital", "treatment"), ("cl_commune", "benefit")]
        got = [(a.seq, a.client) for a in audit.who_accessed(s, settings, PID_B)]
        assert got == [(3, "cl_commune"), (5, "cl_hospital")]
        assert audit.who_accessed(s, settings, "001089099999") == []
        dump = []
        for table in inspect(s.get_bind()).get_table_names():
            if table.startswith("api_"):
                dump += [repr(r) for r in s.execute(text(f"SELECT * FROM {table}"))]
        assert dump and not any(PID_A in d or PID_B in d for d in dump)


def _problems(settings, session_factory, *sql: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    _session(settings, session_factory)
    with session_factory() as s:
        for stmt in sql:
            s.execute(text(stmt))
    with session_factory() as s:
        return [(p.seq, p.kind) for p in audit.verify(s)]


def test_edited_entry_is_named(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    assert _problems(settings, session_factory,
                     "UPDATE api_audit SET purpose = 'research' WHERE seq = 3") == [(3, "edited")]


def test_edit_with_recomputed_hash_is_named(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    _session(settings, session_factory)
    with session_factory() as s:
        row = dict(s.execute(text(f"SELECT {', '.join(COLS)} FROM api_audit WHERE seq = 2")).mappings().one())
        fields = {**row, "purpose": "research", "subjects": json.loads(row["subjects"]),
                  "details": json.loads(row["details"])}
        s.execute(text("UPDATE api_audit SET purpose = 'research', entry_hash = :h WHERE seq = 2"),
                  {"h": audit.entry_hash(fields)})
    with session_factory() as s:
        assert [(p.seq, p.kind) for p in audit.verify(s)] == [(2, "edited")]


def test_deleted_entry_is_named(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    assert _problems(settings, session_factory, "DELETE FROM api_audit_subjects WHERE seq = 3",
                     "DELETE FROM api_audit WHERE seq = 3") == [(3, "deleted")]


def test_deleted_tail_is_named(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    assert _problems(settings, session_factory, "DELETE FROM api_audit_subjects WHERE seq = 5",
                     "DELETE FROM api_audit WHERE seq = 5") == [(5, "deleted")]


def test_reordered_entries_are_named(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    _session(settings, session_factory)
    with session_factory() as s:
        rows = {r["seq"]: dict(r) for r in s.execute(text(
            f"SELECT seq, {', '.join(COLS)} FROM api_audit WHERE seq IN (3, 4)")).mappings()}
        sets = ", ".join(f"{c} = :{c}" for c in COLS)
        for seq, other in ((3, 4), (4, 3)):
            s.execute(text(f"UPDATE api_audit SET {sets} WHERE seq = :seq"), {**rows[other], "seq": seq})
    with session_factory() as s:
        found = [(p.seq, p.kind) for p in audit.verify(s)]
    assert (3, "reordered") in found and (4, "reordered") in found
    assert all(kind == "reordered" for _, kind in found)


def _rewrite_from(settings, session_factory, seq: int) -> None:  # type: ignore[no-untyped-def]
    """Edit entry `seq` and recompute every hash after it and the head: a consistent forgery."""
    with session_factory() as s:
        rows = [dict(r) for r in s.execute(text(
            f"SELECT seq, {', '.join(COLS)} FROM api_audit ORDER BY seq")).mappings()]
        prev = audit.GENESIS
        for r in rows:
            fields = {**r, "subjects": json.loads(r["subjects"]), "details": json.loads(r["details"]),
                      "prev_hash": prev}
            if r["seq"] == seq:
                fields["purpose"] = "research"
            h = audit.entry_hash(fields)
            s.execute(text("UPDATE api_audit SET purpose = :p, prev_hash = :prev, entry_hash = :h "
                           "WHERE seq = :seq"),
                      {"p": fields["purpose"], "prev": prev, "h": h, "seq": r["seq"]})
            prev = h
        s.execute(text("UPDATE api_audit_head SET entry_hash = :h"), {"h": prev})


def test_signed_checkpoint_catches_a_consistent_rewrite(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    _session(settings, session_factory)
    with session_factory() as s:
        assert audit.checkpoint(s, settings).seq == 5
    with session_factory() as s:
        assert audit.verify(s, settings) == []
    _rewrite_from(settings, session_factory, 2)
    with session_factory() as s:
        assert audit.verify(s) == []  # the chain alone cannot tell
        assert [(p.seq, p.kind) for p in audit.verify(s, settings)] == [(5, "edited")]
        s.execute(text("UPDATE api_audit_checkpoints SET entry_hash = "
                       "(SELECT entry_hash FROM api_audit WHERE seq = 5)"))
    with session_factory() as s:
        assert [(p.seq, p.kind) for p in audit.verify(s, settings)] == [(5, "checkpoint")]


def test_checkpoint_written_every_n_entries(settings, session_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(audit, "CHECKPOINT_EVERY", 2)
    _session(settings, session_factory)
    with session_factory() as s:
        seqs = list(s.execute(text("SELECT seq FROM api_audit_checkpoints ORDER BY seq")).scalars())
        assert seqs == [2, 4] and audit.verify(s, settings) == []


JSONISH = st.recursive(  # no floats: json writes 1e-07 where orjson writes 1e-7
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@hsettings(max_examples=300, deadline=None)
@given(text=st.text(), number=st.integers(0, 2**63 - 1), details=st.dictionaries(st.text(max_size=8), JSONISH,
                                                                                max_size=5))
def test_property_hash_versions_serialise_alike(text: str, number: int, details: dict) -> None:  # type: ignore[type-arg]
    """Version 2 (orjson) writes the same canonical JSON as version 1 (json.dumps) for text,
    integers, booleans, nulls, lists and objects (all an entry holds but a float in its
    details, where the exponent is spelled differently: hence the version per row)."""
    fields = {"at": "2026-11-30T00:00:00.000000+00:00", "actor": text, "action": "lookup",
              "purpose": text, "dataset": None, "query": text, "snapshot_id": str(number),
              "row_count": number, "response_sha256": None, "subjects": [text], "details": details,
              "prev_hash": audit.GENESIS}
    assert audit.entry_hash(fields, 1) == audit.entry_hash(fields, 2)


def test_version_1_entries_verify_and_a_changed_version_is_named(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    _session(settings, session_factory)
    with session_factory() as s:
        s.execute(text("UPDATE api_audit SET hash_version = 1"))  # as written before 0004
    with session_factory() as s:
        assert audit.verify(s, settings) == []
        s.execute(text("UPDATE api_audit SET hash_version = 7 WHERE seq = 2"))
    with session_factory() as s:
        assert [(p.seq, p.kind) for p in audit.verify(s, settings)][:1] == [(2, "edited")]
