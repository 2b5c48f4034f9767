"""`python -m bench api` end to end at a tiny size (3,000 people, 1 s of wrk per variant):
every variant is served, answers the records asked for, and is measured with requests and
no error; the printed tables name every variant. Speed is the bench's business, never
asserted here."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from bench import api_load


def _text(*tables: object) -> str:
    console = Console(width=300, record=True)
    for t in tables:
        console.print(t)
    return console.export_text()


def test_every_variant_measured_without_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "unused"))  # run() points it at its own home
    for name in ("LGSP_CONTROL_DB_URI", "LGSP_API_STORE_URI", "LGSP_SPECS_DIR"):
        monkeypatch.delenv(name, raising=False)
    rows = api_load.run(size=3000, seconds=1, warmup=0, log=lambda *_: None)

    assert [r["variant"] for r in rows] == api_load.VARIANTS
    assert [f"{r['variant']}: {r['note']}" for r in rows if not r["available"]] == []
    for r in rows:
        assert r["requests"] > 0, r
        assert r["non_2xx"] == 0 and r["socket_errors"] == 0, r
        assert r["peak_rss_mb"] > 0, r
    ceiling = next(r for r in rows if r["variant"] == api_load.CEILING)
    assert ceiling["path"] == "/bench/constant"  # the framework's ceiling, not a fallback

    text = _text(api_load.results_table(rows), api_load.verdict_table(rows))
    for name in api_load.VARIANTS:
        assert name in text
    assert "not measured" not in text and "not available" not in text
