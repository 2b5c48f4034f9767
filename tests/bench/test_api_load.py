"""`python -m bench api` end to end at a tiny size (3,000 people, 1 s of wrk per variant):
every variant is served, answers the records asked for, and is measured with requests and
no error; the printed tables name every variant. And the wrk Lua script and output parser
against a recording HTTP server. Speed is the bench's business, never asserted here."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class _Recorder(BaseHTTPRequestHandler):
    """200 under /ok/, 404 elsewhere; records each request's path and headers."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str | None, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append((self.path, self.headers.get("Authorization"), self.headers.get("LGSP-Purpose")))
        status = 200 if self.path.startswith("/ok/") else 404
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_wrk_script_and_parser_on_a_real_server(tmp_path: Path) -> None:
    """The Lua script puts random lines of the keys file into the path and sends the token and
    purpose; the parser's counts agree with what the server saw, non-2xx included."""
    keys = [f"0010{i:08d}" for i in range(50)]
    (tmp_path / "keys.txt").write_text("\n".join(keys) + "\n", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        env = {"LGSP_WRK_KEYS": str(tmp_path / "keys.txt"), "LGSP_WRK_TOKEN": "t0k",
               "LGSP_WRK_PURPOSE": "checking"}
        ok = api_load.wrk(url, "/ok/{key}", 1, env)
        seen = list(_Recorder.seen)
        _Recorder.seen.clear()
        missing = api_load.wrk(url, "/missing/{key}", 1, {"LGSP_WRK_KEYS": env["LGSP_WRK_KEYS"]})
    finally:
        server.shutdown()
        server.server_close()

    assert ok["requests"] > 0 and ok["non_2xx"] == 0 and ok["socket_errors"] == 0
    assert ok["requests"] <= len(seen)  # wrk counts completed responses only
    assert 0 < ok["p50_ms"] <= ok["p99_ms"]
    assert {p.removeprefix("/ok/") for p, _, _ in seen} <= set(keys)
    assert len({p for p, _, _ in seen}) > 10  # random keys, not one
    assert {(a, b) for _, a, b in seen} == {("Bearer t0k", "checking")}
    assert missing["requests"] > 0 and missing["non_2xx"] == missing["requests"]
    assert {a for _, a, _ in _Recorder.seen} == {None}  # no token: no header
