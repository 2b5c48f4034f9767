"""`lgsp clients|grants|audit` end to end through the Typer app on a real control database:
each command audited, a personal-data grant pending until approved, `audit verify` naming
a tampered entry (exit 1), who-accessed answering."""

from __future__ import annotations

import re

from sqlalchemy import text
from typer.testing import CliRunner

from api import audit
from control import db
from lgsp.cli import app

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_flow(settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    out = _ok("clients", "register", "Tram Y te xa", "--agency", "So Y te", "--commune", "10105")
    client_id = re.search(r"client_id: (\S+)", out).group(1)
    secret = re.search(r"client_secret: (\S+)", out).group(1)
    out = _ok("grants", "add", client_id, "person_linked", "--column", "personal_id", "--column",
              "full_name", "--mask", "personal_id=last4",
              "--scope", "residence_commune_code in client.communes",
              "--purpose", "treatment", "--legal-basis", "Decree 13/2023", "--expires", "2099-01-01")
    grant_id = re.search(r"grant (\d+): requested", out).group(1)
    _ok("grants", "approve", grant_id)
    assert "approved" in _ok("grants", "list", client_id)
    assert client_id in _ok("clients", "list")
    _ok("clients", "rotate", client_id)
    bad = runner.invoke(app, ["grants", "add", client_id, "population", "--column", "nope", "--purpose",
                              "x", "--legal-basis", "y", "--expires", "2099-01-01"])
    assert bad.exit_code == 2 and "nope" in bad.output
    with session_factory() as s:
        audit.append(s, settings, actor=client_id, action="query", purpose="treatment",
                     dataset="person_linked", personal_ids=["001089012345"])
    out = _ok("audit", "who-accessed", "001089012345")
    assert client_id in out and "treatment" in out
    assert "intact" in _ok("audit", "verify")
    with db.session(settings) as s:
        actions = list(s.execute(text("SELECT action FROM api_audit ORDER BY seq")).scalars())
    assert actions == ["clients.register", "grants.request", "grants.approve", "clients.rotate", "query",
                       "audit.who_accessed", "audit.verify"]
    assert secret not in repr(actions)
    with db.session(settings) as s:
        s.execute(text("UPDATE api_audit SET purpose = 'marketing' WHERE seq = 5"))
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1 and "entry 5 was edited" in result.output
