"""Property-based tests of the one grant-resolution function: whatever the grants, client
state, purpose and time, an allowed access never shows a column the grant does not name,
never shows a masked column in clear, never reaches personal data without approval, never
widens the row scope (checked by running its predicate in DuckDB over generated rows
against a plain-Python reading of the declarative clauses), and expired, revoked,
unapproved or wrong-purpose requests are denied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.grants import CLIENT_COMMUNES, PERSONAL, resolve
from api.models import ApiClient, ApiGrant

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NAMES = [f"c{i}" for i in range(6)]
CLASSES = ["public", "internal", "personal", "sensitive-personal"]
VALUES = ["10001", "10002", "20003", "x", "1234567890"]
PURPOSES = ["benefit", "health", "tax"]

schemas = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(CLASSES), min_size=3)


@st.composite
def clauses(draw):  # type: ignore[no-untyped-def]
    col = draw(st.sampled_from(NAMES + NAMES + ["gone"]))
    op = draw(st.sampled_from(["eq", "in"]))
    if op == "in" and draw(st.booleans()):
        values = CLIENT_COMMUNES
    else:
        values = draw(st.lists(st.sampled_from(VALUES), min_size=1 if op == "eq" else 0,
                               max_size=1 if op == "eq" else 3))
    return {"column": col, "op": op, "values": values}


@st.composite
def grants(draw, ident: int):  # type: ignore[no-untyped-def]
    cols = draw(st.lists(st.sampled_from(NAMES + ["gone"]), min_size=1, unique=True))
    return ApiGrant(
        id=ident, client_id="cl", dataset_id=draw(st.sampled_from(["ds", "ds", "ds", "other"])),
        columns=cols, masks={c: "last4" for c in cols if draw(st.booleans())},
        row_scope=draw(st.lists(clauses(), max_size=3)),
        purposes=draw(st.lists(st.sampled_from(PURPOSES), unique=True, min_size=1, max_size=2)),
        legal_basis="law",
        expires_at=NOW + timedelta(minutes=draw(st.integers(-3, 10))),
        personal=draw(st.integers(0, 3)) == 0,
        approval=draw(st.sampled_from(["not_required", "not_required", "requested", "approved", "approved",
                                        "approved", "refused"])),
        created_by="t", created_at=NOW - timedelta(days=draw(st.integers(0, 3)), seconds=ident),
        revoked_at=NOW if draw(st.integers(0, 3)) == 0 else None,
    )


@st.composite
def clients(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(0, 4))
    gs = [draw(grants(i + 1)) for i in range(n)]
    return ApiClient(id="cl", name="n", agency="a", state=draw(st.sampled_from(["active"] * 5 + ["revoked"])),
                     communes=draw(st.lists(st.sampled_from(VALUES), unique=True, max_size=3)),
                     created_at=NOW, grants=gs)


def _in_scope(row: dict, clause: dict, communes: list[str]) -> bool:
    values = communes if clause["values"] == CLIENT_COMMUNES else clause["values"]
    return row[clause["column"]] is not None and row[clause["column"]] in values


rows_strategy = st.lists(st.fixed_dictionaries({n: st.one_of(st.none(), st.sampled_from(VALUES))
                                                for n in NAMES}), max_size=12)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(client=clients(), schema=schemas, purpose=st.one_of(st.none(), st.sampled_from(PURPOSES)),
       rows=rows_strategy)
def test_access_never_exceeds_the_grant(client, schema, purpose, rows) -> None:  # type: ignore[no-untyped-def]
    access = resolve(client, "ds", purpose, NOW, schema)
    if not access.allowed:
        assert access.columns == () and access.predicate == "FALSE"
        return
    assert client.state == "active"
    live = [g for g in client.grants if g.dataset_id == "ds" and g.revoked_at is None]
    g = next(x for x in client.grants if x.id == access.grant_id)
    # the newest live grant on the dataset decides: a replaced grant never comes back
    assert g in live and g.created_at == max(x.created_at for x in live)
    assert g.expires_at > NOW
    assert purpose is not None and purpose in g.purposes
    assert set(access.columns) <= set(g.columns) & set(schema)
    if any(schema[c] in PERSONAL for c in access.columns) or g.personal:
        assert g.approval == "approved"
    assert g.approval != "refused"
    for col, mask in g.masks.items():
        if col in access.columns:
            assert access.masks[col] == mask and col not in access.clear_columns
    assert all(c in schema for c in (cl["column"] for cl in g.row_scope))

    # run the access in DuckDB over the generated rows
    con = duckdb.connect()
    con.execute("CREATE TABLE t (" + ", ".join(f"{n} VARCHAR" for n in NAMES) + ")")
    if rows:
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' for _ in NAMES)})",
                        [[r[n] for n in NAMES] for r in rows])
    con.execute("ALTER TABLE t ADD COLUMN _i INTEGER")
    con.execute("CREATE SEQUENCE s; UPDATE t SET _i = nextval('s')")
    cur = con.execute(f"SELECT _i, {', '.join(access.select_sql())} FROM t WHERE {access.predicate} "
                      "ORDER BY _i", list(access.params))
    names = [d[0] for d in cur.description][1:]
    assert names == list(access.columns)  # nothing but the granted columns comes out
    got = cur.fetchall()
    all_rows = con.execute(f"SELECT _i, {', '.join(NAMES)} FROM t ORDER BY _i").fetchall()
    by_i = {r[0]: dict(zip(NAMES, r[1:], strict=True)) for r in all_rows}
    expected = [i for i, r in by_i.items()
                if all(_in_scope(r, cl, list(client.communes)) for cl in g.row_scope)]
    assert [r[0] for r in got] == expected  # never widened (nor narrowed)
    for r in got:
        raw = by_i[r[0]]
        for name, value in zip(names, r[1:], strict=True):
            if name in access.masks:
                assert value == (None if raw[name] is None else "********" + raw[name][-4:])
                if raw[name] is not None and len(raw[name]) > 4:
                    assert value != raw[name]
            else:
                assert value == raw[name]


@settings(max_examples=200, deadline=None)
@given(client=clients(), schema=schemas, purpose=st.sampled_from(PURPOSES))
def test_denied_states_are_denied(client, schema, purpose) -> None:  # type: ignore[no-untyped-def]
    access = resolve(client, "ds", purpose, NOW, schema)
    live = [g for g in client.grants if g.dataset_id == "ds" and g.revoked_at is None]
    if client.state != "active" or not live:
        assert not access.allowed
        return
    newest = max(live, key=lambda x: x.created_at)
    if (newest.expires_at <= NOW or newest.approval == "refused" or purpose not in newest.purposes
            or ((newest.personal or any(schema.get(c) in PERSONAL for c in newest.columns))
                and newest.approval != "approved")):
        assert not access.allowed


def test_unknown_client_is_denied() -> None:
    assert resolve(None, "ds", "tax", NOW, {"c0": "public"}).reason == "unknown_client"
