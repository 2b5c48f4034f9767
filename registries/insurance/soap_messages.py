"""The insurance service's SOAP 1.1 messages: the GetMembers request it accepts, the page
of members it answers and the SOAP Faults it raises.

The contract (what an old ASMX-style service of the insurance agency looks like):
- POST /ws/members, Content-Type text/xml; charset=utf-8, SOAPAction "<ns>/GetMembers".
- Credentials in soap:Header, either a WS-Security UsernameToken (PasswordText) or a simple
  <AuthHeader><username/><password/></AuthHeader> element of the service namespace.
- Body: <GetMembers> with pageNumber (from 1), pageSize (1..MAX_PAGE_SIZE), updatedSince
  (exclusive, optional) and updatedUntil (inclusive, optional), xsd:dateTime with an offset.
- Answer: <GetMembersResponse><GetMembersResult> total, pageNumber, pageSize, hasMore and
  <members><member>...</member></members>; element names are Vietnamese abbreviations
  (ELEMENTS); a value absent for a member is xsi:nil.
- Faults (HTTP 500, as SOAP 1.1 prescribes): soap:Client for bad requests and parameters,
  wsse:FailedAuthentication for bad credentials, soap:Server for the service's own failures.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NAMESPACE = "urn:lgsp:bhxh:members:v1"
OPERATION = "GetMembers"
SOAP_ACTION = f"{NAMESPACE}/{OPERATION}"
MAX_PAGE_SIZE = 5000

ELEMENTS: dict[str, str] = {
    "bhxh_number": "maSoBhxh",
    "personal_id": "soDinhDanh",
    "full_name": "hoTen",
    "date_of_birth": "ngaySinh",
    "card_number": "maThe",
    "card_valid_from": "gtTheTu",
    "card_valid_to": "gtTheDen",
    "employer_code": "maDonVi",
    "updated_at": "ngayCapNhat",
}
"""Member field -> the XML element the service sends it in."""


class SoapFault(Exception):
    """A fault to answer with: code (qualified, e.g. soap:Client) and a readable string."""

    def __init__(self, code: str, string: str, error_code: str | None = None) -> None:
        super().__init__(f"{code}: {string}")
        self.code, self.string, self.error_code = code, string, error_code


@dataclass(frozen=True)
class GetMembers:
    page_number: int
    page_size: int
    updated_since: datetime | None
    updated_until: datetime | None
    username: str | None
    password: str | None
    auth_kind: str | None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _client(string: str, error_code: str) -> SoapFault:
    return SoapFault("soap:Client", string, error_code)


def _int(op: ET.Element, name: str, low: int, high: int | None) -> int:
    elem = op.find(f"{{{NAMESPACE}}}{name}")
    if elem is None or not (elem.text or "").strip():
        raise _client(f"{name} is required", "E_MISSING_PARAMETER")
    text = (elem.text or "").strip()
    if not text.lstrip("-").isdigit():
        raise _client(f"{name} {text!r} is not an integer", "E_BAD_PARAMETER")
    value = int(text)
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise _client(f"{name} {value} is out of range ({bound})", "E_BAD_PARAMETER")
    return value


def _moment(op: ET.Element, name: str) -> datetime | None:
    elem = op.find(f"{{{NAMESPACE}}}{name}")
    if elem is None or elem.get(f"{{{XSI}}}nil") == "true" or not (elem.text or "").strip():
        return None
    text = (elem.text or "").strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _client(f"{name} {text!r} is not an xsd:dateTime", "E_BAD_PARAMETER") from None
    if value.tzinfo is None:
        raise _client(f"{name} {text!r} has no time zone offset", "E_BAD_PARAMETER")
    return value


def _credentials(header: ET.Element | None) -> tuple[str | None, str | None, str | None]:
    if header is None:
        return None, None, None
    token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is not None:
        return (token.findtext(f"{{{WSSE}}}Username"), token.findtext(f"{{{WSSE}}}Password"),
                "wsse")
    auth = header.find(f"{{{NAMESPACE}}}AuthHeader")
    if auth is not None:
        return (auth.findtext(f"{{{NAMESPACE}}}username"),
                auth.findtext(f"{{{NAMESPACE}}}password"), "header")
    return None, None, None


def parse_request(body: bytes, soap_action: str | None) -> GetMembers:
    """The GetMembers call in a request body; SoapFault for anything else."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise _client(f"request is not well-formed XML: {exc}", "E_MALFORMED") from None
    if _local(root.tag) != "Envelope":
        raise _client("request is not a SOAP envelope", "E_MALFORMED")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("soap:VersionMismatch", "only SOAP 1.1 envelopes are understood")
    if soap_action is not None and soap_action.strip('"') not in ("", SOAP_ACTION):
        raise _client(f"unknown SOAPAction {soap_action}", "E_UNKNOWN_ACTION")
    body_elem = root.find(f"{{{SOAP_ENV}}}Body")
    op = body_elem[0] if body_elem is not None and len(body_elem) else None
    if op is None or op.tag != f"{{{NAMESPACE}}}{OPERATION}":
        found = _local(op.tag) if op is not None else "nothing"
        raise _client(f"expected {OPERATION} in namespace {NAMESPACE}, got {found}",
                      "E_UNKNOWN_OPERATION")
    username, password, kind = _credentials(root.find(f"{{{SOAP_ENV}}}Header"))
    return GetMembers(
        page_number=_int(op, "pageNumber", 1, None),
        page_size=_int(op, "pageSize", 1, MAX_PAGE_SIZE),
        updated_since=_moment(op, "updatedSince"),
        updated_until=_moment(op, "updatedUntil"),
        username=username, password=password, auth_kind=kind,
    )


_ENTITIES = {"\r": "&#13;"}
"""Carriage returns as a character reference: a parser would turn a literal one into \\n."""


def _text(value: str) -> str:
    return escape(value, _ENTITIES)


_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:xsi="{XSI}">'
    "<soap:Body>"
)
_TAIL = "</soap:Body></soap:Envelope>"


def render_members(rows: Iterable[Mapping[str, str | None]], total: int, page_number: int,
                   page_size: int, has_more: bool, extra: Mapping[str, str] | None = None,
                   drop: Iterable[str] = ()) -> bytes:
    """A GetMembers response. `extra` adds elements to every member and `drop` leaves
    elements out (the source's schema changing under the platform)."""
    dropped = set(drop)
    fields = [(col, el) for col, el in ELEMENTS.items() if el not in dropped]
    added = "".join(f"<{name}>{_text(value)}</{name}>" for name, value in (extra or {}).items())
    parts = [
        _HEAD,
        f'<GetMembersResponse xmlns="{NAMESPACE}"><GetMembersResult>',
        f"<total>{total}</total><pageNumber>{page_number}</pageNumber>",
        f"<pageSize>{page_size}</pageSize><hasMore>{'true' if has_more else 'false'}</hasMore>",
        "<members>",
    ]
    for row in rows:
        parts.append("<member>")
        for col, el in fields:
            value = row.get(col)
            if value is None:
                parts.append(f'<{el} xsi:nil="true"/>')
            else:
                parts.append(f"<{el}>{_text(value)}</{el}>")
        parts.append(added)
        parts.append("</member>")
    parts.append("</members></GetMembersResult></GetMembersResponse>")
    parts.append(_TAIL)
    return "".join(parts).encode("utf-8")


def render_fault(fault: SoapFault) -> bytes:
    detail = ""
    if fault.error_code:
        detail = (f'<detail><errorCode xmlns="{NAMESPACE}">{escape(fault.error_code)}'
                  "</errorCode></detail>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:wsse={quoteattr(WSSE)}><soap:Body>'
        f"<soap:Fault><faultcode>{escape(fault.code)}</faultcode>"
        f"<faultstring>{escape(fault.string)}</faultstring>{detail}</soap:Fault>"
        + _TAIL
    ).encode("utf-8")
