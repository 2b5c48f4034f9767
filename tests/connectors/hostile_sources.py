"""Hostile registries for the hostile-source suite: one HTTP server on 127.0.0.1 that answers
REST (GET /rest/<dataset>) and SOAP (POST /soap/<dataset>) the way a broken or malicious
registry would, and the files a hostile drop folder holds. `MODES[dataset]` picks the
behaviour per dataset ("clean" by default); `HITS[dataset]` counts the requests."""

from __future__ import annotations

import gzip
import io
import re
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import openpyxl
import orjson

from tests.http_stub import serve

MODES: dict[str, str] = {}
HITS: Counter[str] = Counter()
CLEAN_ROWS = 15
PAGE = 10
STAMP = "2026-11-01T00:00:00+00:00"


def record(n: int, **extra: object) -> dict[str, object]:
    return {"id": f"R{n:05d}", "name": f"Nguyễn Văn {n}", "updated_at": STAMP, **extra}


_BOMB: list[bytes] = []


def gzip_bomb() -> bytes:
    """48 MiB of spaces in ~50 kB of gzip (built once)."""
    if not _BOMB:
        _BOMB.append(gzip.compress(b" " * (48 << 20), compresslevel=6))
    return _BOMB[0]


DEEP_JSON = b"[" * 17_000 + b"]" * 17_000
DEEP_XML = "<b>" * 1_000 + "x" + "</b>" * 1_000
XXE = ('<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
       "<r><member><id>R1</id><name>&xxe;</name><updated_at>" + STAMP + "</updated_at></member>"
       "<total>1</total><hasMore>false</hasMore></r></soapenv:Body></soapenv:Envelope>")
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                    for i in range(1, 10))
          + ']><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
          "<soapenv:Body><r><member><id>R1</id><name>&lol9;</name></member></r>"
          "</soapenv:Body></soapenv:Envelope>")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _endless(self, content_type: str, prefix: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * 65536
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(prefix), prefix))
            for _ in range(4096):  # 256 MiB at most, whatever the client does
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass
        self.close_connection = True

    def _slow(self, content_type: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for i in range(len(body)):  # one byte every 0.3 s: each resets a read timeout
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(0.3)
        except OSError:
            pass
        self.close_connection = True

    def _slow_headers(self) -> None:
        """The status line and headers a byte every 0.3 s (each resets a read timeout)."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"x" * 200
        try:
            for i in range(len(head)):
                self.wfile.write(head[i:i + 1])
                self.wfile.flush()
                time.sleep(0.3)
        except OSError:
            pass
        self.close_connection = True

    # --- REST ---------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        dataset = url.path.rsplit("/", 1)[-1]
        HITS[dataset] += 1
        mode = MODES.get(dataset, "clean")
        cursor = parse_qs(url.query).get("cursor", [None])[0]
        kind = "application/json"
        if mode == "clean":
            first = cursor is None
            rows = range(PAGE) if first else range(PAGE, CLEAN_ROWS)
            body = {"data": [record(n) for n in rows], "next_cursor": "p2" if first else None}
            return self._send(orjson.dumps(body), kind)
        if mode == "deep":
            body = b'{"data":[{"id":"R1","name":"x","updated_at":"' + STAMP.encode() + \
                b'","extra":' + DEEP_JSON + b'}],"next_cursor":null}'
            return self._send(body, kind)
        if mode == "endless":
            return self._endless(kind, b'{"data":[')
        if mode == "gzip_bomb":
            return self._send(gzip_bomb(), kind, {"Content-Encoding": "gzip"})
        if mode == "many_records":
            body = {"data": [record(n) for n in range(1000)], "next_cursor": None}
            return self._send(orjson.dumps(body), kind)
        if mode == "slow":
            return self._slow(kind, orjson.dumps({"data": [record(1)], "next_cursor": None}))
        if mode == "slow_headers":
            return self._slow_headers()
        if mode in ("loop", "same", "endless_pages"):
            if mode == "loop":  # A -> B -> A
                following = {None: "A", "A": "B", "B": "A"}[cursor]
            elif mode == "same":  # the cursor it was asked with
                following = cursor or "A"
            else:  # always a new one
                following = f"p{int((cursor or 'p0')[1:]) + 1}"
            body = {"data": [record(HITS[dataset])], "next_cursor": following}
            return self._send(orjson.dumps(body), kind)
        if mode == "nul":
            return self._send(orjson.dumps({"data": [record(1), record(2, name="Ng\x00uyễn")],
                                            "next_cursor": None}), kind)
        if mode == "big_cell":
            return self._send(orjson.dumps({"data": [record(1, name="A" * 200_000)],
                                            "next_cursor": None}), kind)
        raise AssertionError(mode)

    # --- SOAP ---------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        dataset = urlparse(self.path).path.rsplit("/", 1)[-1]
        HITS[dataset] += 1
        length = int(self.headers.get("Content-Length", 0))
        request = self.rfile.read(length).decode()
        page = int(re.search(r"pageNumber>(\d+)<", request).group(1))  # type: ignore[union-attr]
        mode = MODES.get(dataset, "clean")
        kind = "text/xml; charset=utf-8"
        if mode == "clean":
            rows = range(PAGE) if page == 1 else range(PAGE, CLEAN_ROWS)
            return self._send(soap_page(rows, total=CLEAN_ROWS, more=page == 1), kind)
        if mode == "endless":
            return self._endless(kind, b"<?xml version='1.0'?><soapenv:Envelope xmlns:soapenv="
                                       b"'http://schemas.xmlsoap.org/soap/envelope/'><x>")
        if mode == "gzip_bomb":
            return self._send(gzip_bomb(), kind, {"Content-Encoding": "gzip"})
        if mode == "slow":
            return self._slow(kind, soap_page(range(1), total=1, more=False))
        if mode == "slow_headers":
            return self._slow_headers()
        if mode == "deep":
            return self._send(soap_page(range(1), total=1, more=False, name=DEEP_XML), kind)
        if mode == "xxe":
            return self._send(XXE.encode(), kind)
        if mode == "laughs":
            return self._send(LAUGHS.encode(), kind)
        if mode == "many_records":
            return self._send(soap_page(range(1000), total=1000, more=False), kind)
        if mode == "endless_pages":
            return self._send(soap_page(range(PAGE), total=None, more=True), kind)
        raise AssertionError(mode)


def soap_page(rows: range, total: int | None, more: bool, name: str | None = None) -> bytes:
    members = "".join(
        f"<m:member><m:id>R{n:05d}</m:id><m:name>{name or f'Nguyễn Văn {n}'}</m:name>"
        f"<m:updated_at>{STAMP}</m:updated_at></m:member>" for n in rows)
    total_xml = f"<m:total>{total}</m:total>" if total is not None else ""
    return ('<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv='
            '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="urn:test"><soapenv:Body>'
            f"<m:GetMembersResponse>{members}{total_xml}<m:hasMore>{str(more).lower()}"
            "</m:hasMore></m:GetMembersResponse></soapenv:Body></soapenv:Envelope>").encode()


@contextmanager
def hostile_server() -> Iterator[str]:
    with serve(_Handler) as url:
        yield url


# --- files ---------------------------------------------------------------------------------
CSV_HEADER = "id,name,updated_at\n"


def clean_csv(n0: int = 0, n: int = CLEAN_ROWS) -> str:
    return CSV_HEADER + "".join(f"R{i:05d},Nguyễn Văn {i},{STAMP}\n" for i in range(n0, n0 + n))


def xlsx_bytes(rows: int = 3) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "name", "updated_at"])
    for i in range(rows):
        ws.append([f"R{i:05d}", f"Nguyễn Văn {i}", STAMP])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rewrite(xlsx: bytes, member: str, change: object) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == member:
                data = change(data)  # type: ignore[operator]
            target.writestr(item.filename, data, compresslevel=9)
    return out.getvalue()


def xlsx_far_row() -> bytes:
    """A 5 kB workbook whose last row is numbered 1,000,000,000,000."""
    return _rewrite(xlsx_bytes(), "xl/worksheets/sheet1.xml",
                    lambda d: d.replace(b'r="4"', b'r="1000000000000"').replace(
                        b'r="A4"', b'r="A1000000000000"').replace(
                        b'r="B4"', b'r="B1000000000000"').replace(
                        b'r="C4"', b'r="C1000000000000"'))


def xlsx_bomb() -> bytes:
    """One inline-string cell of 64 MiB, deflated to ~64 kB."""
    def bloat(d: bytes) -> bytes:
        cell = b'<c r="B2" t="inlineStr"><is><t>' + b"A" * (64 << 20) + b"</t></is></c>"
        return re.sub(rb'<c r="B2"[^>]*>.*?</c>', lambda _: cell, d, count=1)
    return _rewrite(xlsx_bytes(), "xl/worksheets/sheet1.xml", bloat)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path
