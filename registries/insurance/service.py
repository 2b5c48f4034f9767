"""The simulated insurance web service: a plain ASGI app speaking SOAP 1.1 over HTTP.

Routes:
- GET  /health                  -> "ok" (the process runner waits for it)
- POST /ws/members              -> GetMembers (see soap_messages for the contract)
- POST /admin/faults (JSON list) / DELETE /admin/faults   -> arm / clear injected failures
- POST /admin/schema {"add": {element: value}, "drop": [element]} / DELETE /admin/schema
                                 -> change the member elements the service sends
- POST /admin/advance {"days", "renewals", "enrolments", "employer_changes"} -> changes
- GET  /admin/stats             -> counters
Admin calls need the header X-Admin-Token (the service password unless set otherwise).

A plain ASGI app (no framework) because the failure modes need control below the HTTP
response: dropping a connection halfway through a body, or the process going away.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

import orjson

from registries.insurance.faults import Fault, FaultQueue
from registries.insurance.soap_messages import (
    SoapFault,
    parse_request,
    render_fault,
    render_members,
)
from registries.insurance.store import MemberStore

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
XML = "text/xml; charset=utf-8"
AUTH_FAILED = ("wsse:FailedAuthentication",
               "The security token could not be authenticated or authorized")


class _DropConnection(Exception):
    """Raised after a partial body: the server closes the connection mid-response."""


class InsuranceService:
    def __init__(self, store: MemberStore, username: str, password: str,
                 admin_token: str | None = None) -> None:
        self.store = store
        self.username, self.password = username, password
        self.admin_token = admin_token or password
        self.faults = FaultQueue()
        self.extra_elements: dict[str, str] = {}
        self.dropped_elements: list[str] = []
        self.requests = 0
        self.pages = 0

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        if path == "/health":
            await _respond(send, 200, b"ok", "text/plain")
        elif path == "/ws/members" and method == "POST":
            await self._members(headers, body, send)
        elif path == "/ws/members" and method == "GET" and "wsdl" in parse_qs(
                scope.get("query_string", b"").decode(), keep_blank_values=True):
            await _respond(send, 200, _WSDL.encode(), XML)
        elif path.startswith("/admin/"):
            if headers.get("x-admin-token") != self.admin_token:
                await _json(send, 401, {"error": "X-Admin-Token missing or wrong"})
            else:
                await self._admin(method, path, body, send)
        else:
            await _respond(send, 404, f"no route {method} {path}".encode(), "text/plain")

    async def _members(self, headers: dict[str, str], body: bytes, send: Send) -> None:
        self.requests += 1
        fault = self.faults.next()
        if fault is not None:
            log.warning("injecting fault %s", fault)
            if fault.kind == "die":
                os._exit(70)
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "status":
                extra = [(b"retry-after", str(fault.retry_after).encode())] \
                    if fault.retry_after is not None else []
                page = f"<html><body><h1>{fault.status} Service Unavailable</h1></body></html>"
                await _respond(send, fault.status, page.encode(), "text/html", extra)
                return
            elif fault.kind == "fault":
                await _respond(send, 500, render_fault(SoapFault(fault.code, fault.string)), XML)
                return
        try:
            call = parse_request(body, headers.get("soapaction"))
            if (call.username, call.password) != (self.username, self.password):
                raise SoapFault(*AUTH_FAILED)
        except SoapFault as exc:
            await _respond(send, 500, render_fault(exc), XML)
            return
        lo, hi = self.store.window(call.updated_since, call.updated_until)
        start = lo + (call.page_number - 1) * call.page_size
        stop = min(hi, start + call.page_size)
        rows = self.store.rows(start, stop) if start < hi else []
        payload = render_members(rows, hi - lo, call.page_number, call.page_size, stop < hi,
                                 self.extra_elements, self.dropped_elements)
        if fault is not None and fault.kind in ("drop", "truncate", "corrupt"):
            await _broken(send, payload, fault)
            return
        self.pages += 1
        self.faults.page_served()
        await _respond(send, 200, payload, XML)

    async def _admin(self, method: str, path: str, body: bytes, send: Send) -> None:
        try:
            data = orjson.loads(body) if body else None
            if path == "/admin/faults" and method == "POST":
                self.faults.arm(list(data or []))
                await _json(send, 200, {"armed": self.faults.as_list()})
            elif path == "/admin/faults" and method == "DELETE":
                self.faults.clear()
                await _json(send, 200, {"armed": []})
            elif path == "/admin/schema" and method == "POST":
                self.extra_elements = {str(k): str(v) for k, v in (data or {}).get("add", {}).items()}
                self.dropped_elements = [str(e) for e in (data or {}).get("drop", [])]
                await _json(send, 200, {"add": self.extra_elements, "drop": self.dropped_elements})
            elif path == "/admin/schema" and method == "DELETE":
                self.extra_elements, self.dropped_elements = {}, []
                await _json(send, 200, {"add": {}, "drop": []})
            elif path == "/admin/advance" and method == "POST":
                change = self.store.advance(**{k: int(v) for k, v in (data or {}).items()})
                await _json(send, 200, {**asdict(change), "changed": change.changed,
                                        "as_of": self.store.as_of.isoformat()})
            elif path == "/admin/stats" and method == "GET":
                await _json(send, 200, {"members": len(self.store), "requests": self.requests,
                                        "pages": self.pages, "faults": self.faults.as_list(),
                                        "as_of": self.store.as_of.isoformat()})
            else:
                await _json(send, 404, {"error": f"no admin route {method} {path}"})
        except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
            await _json(send, 400, {"error": str(exc)})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: str,
                   extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(body)).encode()), *(extra_headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, data: Any) -> None:
    await _respond(send, status, orjson.dumps(data), "application/json")


async def _broken(send: Send, payload: bytes, fault: Fault) -> None:
    """A response that goes wrong: dropped, cut short, or with bytes that are not UTF-8."""
    if fault.kind == "truncate":
        cut = payload[: len(payload) * 3 // 5]
        await _respond(send, 200, cut, XML)
        return
    if fault.kind == "corrupt":
        at = payload.find(b"<hoTen>")
        at = at + len(b"<hoTen>") if at >= 0 else len(payload) // 2
        await _respond(send, 200, payload[:at] + b"\xff\xfe" + payload[at:], XML)
        return
    headers = [(b"content-type", XML.encode()), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload[: len(payload) // 2],
                "more_body": True})
    raise _DropConnection("fault injection: connection dropped halfway through the body")


_WSDL = """<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:tns="urn:lgsp:bhxh:members:v1" targetNamespace="urn:lgsp:bhxh:members:v1">
  <wsdl:portType name="MembersPort">
    <wsdl:operation name="GetMembers"/>
  </wsdl:portType>
  <wsdl:binding name="MembersBinding" type="tns:MembersPort">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http" style="document"/>
    <wsdl:operation name="GetMembers">
      <soap:operation soapAction="urn:lgsp:bhxh:members:v1/GetMembers"/>
    </wsdl:operation>
  </wsdl:binding>
</wsdl:definitions>
"""
