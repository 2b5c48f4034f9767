"""`lgsp clients|grants|audit`: thin Typer commands over api.clients, api.grants and api.audit.
Each change is audited by the function it calls (actor `cli:<user>`); `audit verify` and
`audit who-accessed` are audited too (a look-up of a person is itself an access)."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lgsp.config import Settings

clients_app = typer.Typer(help="Agency API clients: register, rotate, revoke, list.", no_args_is_help=True)
grants_app = typer.Typer(help="Grants per client and dataset (columns, masks, rows, purposes).",
                         no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log: verify, checkpoint, who-accessed.",
                        no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 150)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(err: Exception) -> typer.Exit:
    console.print(f"[red]{escape(str(err))}[/red]")
    return typer.Exit(2)


@clients_app.command("register")
def clients_register(
    name: str,
    agency: Annotated[str, typer.Option(help="the agency the client belongs to")],
    commune: Annotated[list[str] | None, typer.Option(help="commune code (repeat); for row scopes")] = None,
    rate_per_minute: Annotated[int, typer.Option(help="requests per minute allowed")] = 6000,
    role: Annotated[list[str] | None, typer.Option(help="extra role (repeat): dpo")] = None,
) -> None:
    """Register a client; prints its id and secret (shown once, stored only hashed)."""
    from api import clients
    from control import db

    settings = Settings.from_env()
    try:
        with db.session(settings) as s:
            issued = clients.register(s, settings, name=name, agency=agency, communes=commune or [],
                                      rate_per_minute=rate_per_minute, roles=role or [], actor=_actor())
    except clients.ClientError as err:
        raise _fail(err) from None
    console.print(f"client_id: {issued.client_id}\nclient_secret: {issued.secret}\n"
                  "(the secret is shown only now)")


@clients_app.command("rotate")
def clients_rotate(client_id: str) -> None:
    """A new secret for the client; the old one stops working at once."""
    from api import clients
    from control import db

    settings = Settings.from_env()
    try:
        with db.session(settings) as s:
            issued = clients.rotate(s, settings, client_id, actor=_actor())
    except clients.ClientError as err:
        raise _fail(err) from None
    console.print(f"client_id: {issued.client_id}\nclient_secret: {issued.secret}")


@clients_app.command("revoke")
def clients_revoke(client_id: str) -> None:
    """Revoke the client: its secrets and tokens stop working at once."""
    from api import clients
    from control import db

    settings = Settings.from_env()
    try:
        with db.session(settings) as s:
            clients.revoke(s, settings, client_id, actor=_actor())
    except clients.ClientError as err:
        raise _fail(err) from None
    console.print(f"revoked {client_id}")


@clients_app.command("list")
def clients_list() -> None:
    """Every client, its state and communes."""
    from api import clients
    from control import db

    settings = Settings.from_env()
    table = Table("client_id", "name", "agency", "communes", "state", "created")
    with db.session(settings) as s:
        for c in clients.list_clients(s):
            table.add_row(c.id, escape(c.name), escape(c.agency), ",".join(c.communes), c.state,
                          c.created_at.isoformat(timespec="seconds"))
    console.print(table)


@grants_app.command("add")
def grants_add(
    client_id: str,
    dataset: str,
    column: Annotated[list[str], typer.Option(help="column the client may read (repeat)")],
    purpose: Annotated[list[str], typer.Option(help="purpose a request may state (repeat)")],
    legal_basis: Annotated[str, typer.Option(help="the law or decision allowing it")],
    expires: Annotated[datetime, typer.Option(help="expiry (UTC)",
                                              formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])],
    mask: Annotated[list[str] | None, typer.Option(help="column=last4|year (repeat)")] = None,
    scope: Annotated[list[str] | None, typer.Option(
        help="row scope clause, ANDed (repeat): 'col = v', 'col in a,b', 'col in client.communes'")] = None,
) -> None:
    """Grant (or, on personal data, request) a client access to a dataset."""
    from api import grants
    from control import db

    settings = Settings.from_env()
    try:
        masks = dict(m.split("=", 1) for m in mask or [])
        row_scope = [grants.parse_scope_clause(c) for c in scope or []]
        with db.session(settings) as s:
            g = grants.grant(s, settings, client_id=client_id, dataset=dataset, columns=column,
                             purposes=purpose, legal_basis=legal_basis,
                             expires_at=expires.replace(tzinfo=expires.tzinfo or UTC), masks=masks,
                             row_scope=row_scope, actor=_actor())
    except ValueError as err:
        raise _fail(err) from None
    console.print(f"grant {g.id}: {g.approval}" + (" (the owning agency must approve it: "
                                                   f"lgsp grants approve {g.id})" if g.personal else ""))


def _decide(grant_id: int, approve: bool, note: str | None) -> None:
    from api import grants
    from control import db

    settings = Settings.from_env()
    try:
        with db.session(settings) as s:
            fn = grants.approve if approve else grants.refuse
            g = fn(s, settings, grant_id, actor=_actor(), note=note)
    except ValueError as err:
        raise _fail(err) from None
    console.print(f"grant {g.id}: {g.approval}")


@grants_app.command("approve")
def grants_approve(grant_id: int, note: Annotated[str | None, typer.Option()] = None) -> None:
    """The owning agency approves a pending request for personal data."""
    _decide(grant_id, True, note)


@grants_app.command("refuse")
def grants_refuse(grant_id: int, note: Annotated[str | None, typer.Option()] = None) -> None:
    """The owning agency refuses a pending request for personal data."""
    _decide(grant_id, False, note)


@grants_app.command("revoke")
def grants_revoke(grant_id: int) -> None:
    """Revoke a grant (effective at once)."""
    from api import grants
    from control import db

    settings = Settings.from_env()
    try:
        with db.session(settings) as s:
            grants.revoke(s, settings, grant_id, actor=_actor())
    except ValueError as err:
        raise _fail(err) from None
    console.print(f"grant {grant_id}: revoked")


@grants_app.command("list")
def grants_list(client_id: Annotated[str | None, typer.Argument()] = None) -> None:
    """Grants (of one client, or all)."""
    from api import grants
    from control import db

    settings = Settings.from_env()
    table = Table("id", "client", "dataset", "columns", "masks", "rows", "purposes", "expires", "approval",
                  "revoked")
    with db.session(settings) as s:
        for g in grants.list_grants(s, client_id):
            rows = "; ".join(f"{c['column']} {c['op']} {c['values']}" for c in g.row_scope) or "all"
            table.add_row(str(g.id), g.client_id, g.dataset_id, ",".join(g.columns),
                          ",".join(f"{k}={v}" for k, v in g.masks.items()), escape(rows),
                          ",".join(g.purposes), g.expires_at.isoformat(timespec="seconds"), g.approval,
                          "yes" if g.revoked_at else "")
    console.print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; name every edited, deleted or reordered entry (exit 1 if any)."""
    from api import audit, audit_journal
    from control import db

    settings = Settings.from_env()
    audit_journal.seal_all(settings)  # the workers' journals first: the whole log
    with db.session(settings) as s:
        problems = audit.verify(s, settings)
        count = s.execute(audit.count_sql()).scalar_one()
        audit.append(s, settings, actor=_actor(), action="audit.verify",
                     details={"entries": count, "problems": len(problems)})
    for p in problems:
        console.print(f"[red]{p.kind}[/red]: {escape(p.message)}")
    if problems:
        raise typer.Exit(1)
    console.print(f"audit log intact: {count} entries chained")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain's current head now (also done every 1,000 entries)."""
    from api import audit, audit_journal
    from control import db

    settings = Settings.from_env()
    audit_journal.seal_all(settings)  # the workers' journals first: the whole log
    with db.session(settings) as s:
        audit.append(s, settings, actor=_actor(), action="audit.checkpoint")
        cp = audit.checkpoint(s, settings)
    console.print(f"checkpoint signed at entry {cp.seq}: {cp.entry_hash}" if cp else "nothing to sign")


@audit_app.command("who-accessed")
def audit_who_accessed(personal_id: str) -> None:
    """Which client read this person's record, when and for what purpose."""
    from api import audit, audit_journal
    from control import db

    settings = Settings.from_env()
    audit_journal.seal_all(settings)  # the workers' journals first: the whole log
    with db.session(settings) as s:
        found = audit.who_accessed(s, settings, personal_id)
        audit.append(s, settings, actor=_actor(), action="audit.who_accessed", personal_ids=[personal_id],
                     details={"found": len(found)})
    table = Table("entry", "time", "client", "purpose", "dataset", "action")
    for a in found:
        table.add_row(str(a.seq), a.at, a.client, escape(a.purpose or ""), a.dataset or "", a.action)
    console.print(table)
