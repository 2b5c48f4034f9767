"""SOAP 1.1 / XML transport for older web services: envelope, paging, faults, retries.

Registered as `soap_xml`. For each page it POSTs a SOAP envelope (credentials as a
WS-Security UsernameToken or a simple AuthHeader element, the page number and size and the
extraction window), parses the answer with ElementTree's iterparse (each record element is
read, turned into a dict and cleared, so memory is the page's bytes plus one batch) and
yields one Arrow batch of strings per page. It pages until the service says hasMore=false.

Failures:
- transient (network errors, timeouts, connections dropped mid-body, HTTP 5xx/429 without a
  SOAP Fault, SOAP Faults whose code is in `transient_fault_codes` (default Server), a body
  cut short) are retried with exponential backoff within the budget of
  connectors.rest.RetryPolicy; the manifest lists every retry;
- a SOAP Fault with any other code (Client, FailedAuthentication, VersionMismatch...),
  other HTTP errors, and a body that is not well-formed for any other reason (an undefined
  entity such as XXE, entity amplification, an invalid token: the same on every retry) fail
  at once;
- `source.limits`: body bytes on the wire and decoded, a deadline per request and per run,
  pages per run, records per page, elements nested inside a record (each would be turned
  into text recursively);
- records changing while paging fail the run: with page-number paging, a record that
  changes mid-extract shifts the pages and another would be skipped silently. Caught by the
  service's `total` changing between pages (rows leaving or entering the window: shrinking
  or growing), by a count different from the one announced, and, for a change that keeps
  the total (a record re-stamped inside the window moves to its end: read twice, and the
  record after the page boundary is skipped), by a primary key read on two pages: the
  earlier page is read again, and if it is no longer what was received, the run fails (a
  key the source itself repeats, on pages that stay the same, is left to the gate's
  `unique` check). The keys are kept as 8-byte hashes, one array per page.

Schema: declared columns are read from the elements named in `fields` (column -> element;
default: the column name); any other element of a record is kept as an extra column under
its own name (reported as drift); a declared element no record carries is reported missing,
and left out of the batch so the gate can tell a missing column from empty values.
xsi:nil="true" is NULL; an empty element is "".
"""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.parsers.expat import errors as ET_ERRORS
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pyarrow as pa
import requests
import urllib3.exceptions

from catalog.spec import DatasetSpec
from connectors.base import (
    ConnectorError,
    SchemaDrift,
    Window,
    string_column,
)
from connectors.limits import (
    Deadline,
    LimitExceeded,
    deadline_session,
    headers_within,
    read_body,
    request_deadline,
)
from connectors.registry import register
from connectors.rest import RetryPolicy, TransientHTTPError
from connectors.state import DatasetState

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-username-token-profile-1.0#PasswordText")
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

DEFAULT_REQUEST = {"page_number": "pageNumber", "page_size": "pageSize",
                   "updated_since": "updatedSince", "updated_until": "updatedUntil"}
DEFAULT_RESPONSE = {"record": "member", "total": "total", "has_more": "hasMore"}
CUT_SHORT = {ET_ERRORS.codes[m] for m in (
    ET_ERRORS.XML_ERROR_NO_ELEMENTS, ET_ERRORS.XML_ERROR_UNCLOSED_TOKEN,
    ET_ERRORS.XML_ERROR_PARTIAL_CHAR, ET_ERRORS.XML_ERROR_UNCLOSED_CDATA_SECTION)}
"""Expat errors of a body that ends too early (worth a retry). Any other parse error (an
entity that is not defined, an amplification limit, an invalid token) is in the document
and comes back on every retry: it fails at once."""


class RecordTooLarge(ValueError):
    """A record element nests deeper, or a page holds more records, than the spec allows."""


class SoapFaultError(ConnectorError):
    """The service answered a SOAP Fault that is not worth retrying."""

    def __init__(self, message: str, code: str, string: str) -> None:
        super().__init__(message)
        self.code, self.string = code, string


@dataclass
class Page:
    records: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None
    has_more: bool | None = None
    fault: tuple[str, str, str] | None = None
    """(faultcode, faultstring, detail text) when the body is a SOAP Fault."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _value(elem: ET.Element) -> str | None:
    """An element's value as delivered: NULL for xsi:nil, inner XML for nested content."""
    if elem.get(XSI_NIL) in ("true", "1"):
        return None
    if len(elem):
        inner = "".join(ET.tostring(child, encoding="unicode") for child in elem)
        return (elem.text or "") + inner
    return elem.text or ""


class _Names:
    """Tag -> local name and tag -> column, memoised: a page repeats the same few tags."""

    def __init__(self, element_to_column: dict[str, str]) -> None:
        self.element_to_column = element_to_column
        self.declared = set(element_to_column.values())
        self.local: dict[str, str] = {}
        self.column: dict[str, str] = {}

    def local_name(self, tag: str) -> str:
        name = self.local.get(tag)
        if name is None:
            name = self.local[tag] = _local(tag)
        return name

    def column_of(self, tag: str) -> str:
        column = self.column.get(tag)
        if column is None:
            name = self.local_name(tag)
            column = self.element_to_column.get(name)
            if column is None:
                # An element the spec does not know: kept under its own name (never
                # dropped), renamed only if it would collide with a declared column.
                column = name if name not in self.declared else f"{name}__xml"
            self.column[tag] = column
        return column


def parse_page(content: bytes, record: str, total: str, has_more: str,
               element_to_column: dict[str, str], max_depth: int | None = None,
               max_records: int | None = None) -> Page:
    """Records and paging elements of one response body (local names, any namespace).
    Each record element is turned into a dict when it ends, then removed from the tree, so
    memory holds the page's bytes and records, not its element tree.
    Raises ET.ParseError when the body is not well-formed, RecordTooLarge when an element
    inside a record nests more than `max_depth` levels below it (it would be turned into
    text recursively) or the page holds more than `max_records` records."""
    page = Page()
    names = _Names(element_to_column)
    stack: list[ET.Element] = []
    record_depth = 0
    fault: dict[str, str] = {}
    in_fault = False
    for event, elem in ET.iterparse(io.BytesIO(content), events=("start", "end")):
        if event == "start":
            stack.append(elem)
            if not record_depth:
                if max_depth is not None and len(stack) > max_depth:
                    raise RecordTooLarge(f"the document nests elements more than {max_depth} "
                                         "levels deep outside any record")
                name = names.local_name(elem.tag)
                if name == record:
                    record_depth = len(stack)
                    if max_records is not None and len(page.records) >= max_records:
                        raise RecordTooLarge(f"more than {max_records:,} {record} records")
                elif name == "Fault":
                    in_fault = True
            elif max_depth is not None and len(stack) - record_depth > max_depth:
                raise RecordTooLarge(f"{record} record {len(page.records) + 1} nests elements "
                                     f"more than {max_depth} levels deep")
            continue
        depth = len(stack)
        stack.pop()
        if record_depth:
            if depth == record_depth:
                page.records.append(_record(elem, names))
                record_depth = 0
                if stack:
                    stack[-1].remove(elem)
                elem.clear()
            continue
        name = names.local_name(elem.tag)
        if in_fault:
            if name in ("faultcode", "faultstring", "detail"):
                fault[name] = "".join(elem.itertext()).strip()
            elif name == "Fault":
                in_fault = False
                page.fault = (fault.get("faultcode", ""), fault.get("faultstring", ""),
                              fault.get("detail", ""))
        elif name == total and page.total is None:
            text = (elem.text or "").strip()
            page.total = int(text) if text.isdigit() else None
        elif name == has_more and page.has_more is None:
            page.has_more = (elem.text or "").strip().lower() in ("true", "1")
    return page


def _record(elem: ET.Element, names: _Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in elem:
        column = names.column_of(child.tag)
        value = _value(child) if child.attrib or len(child) else child.text or ""
        if column in out:  # a repeated element: keep every value (JSON list text)
            previous = out[column]
            out[column] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            out[column] = value
    return out


def page_batch(records: list[dict[str, Any]], expected: list[str]) -> tuple[pa.RecordBatch, set[str]]:
    """One batch: the declared columns this page carries (spec order), then extra ones."""
    seen: set[str] = set()
    for rec in records:
        seen.update(rec)
    names = [c for c in expected if c in seen] + sorted(seen - set(expected))
    arrays = [string_column([r.get(n) for r in records]) for n in names]
    return pa.RecordBatch.from_arrays(arrays, names=names), seen


class SoapXmlConnector:
    def __init__(self, spec: DatasetSpec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.drift = SchemaDrift()
        self.url = str(params["url"])
        self.namespace = str(params["namespace"])
        self.operation = str(params.get("operation", "GetMembers"))
        self.soap_action = str(params.get("soap_action", f"{self.namespace}/{self.operation}"))
        self.auth = str(params.get("auth", "wsse"))
        if self.auth not in ("wsse", "header", "none"):
            raise ValueError(f"{spec.path or spec.id}: source.params.auth: {self.auth!r} must be "
                             "wsse, header or none")
        self.username = str(params.get("username", ""))
        self.password = str(params.get("password", ""))
        self.page_size = int(params.get("page_size", 1000))
        self.request_names = {**DEFAULT_REQUEST, **params.get("request_elements", {})}
        self.response_names = {**DEFAULT_RESPONSE, **params.get("response_elements", {})}
        fields = dict(params.get("fields", {}))
        unknown = sorted(set(fields) - set(spec.column_names))
        if unknown:
            raise ValueError(f"{spec.path or spec.id}: source.params.fields: {unknown} are not "
                             "declared columns")
        self.element_to_column = {str(fields.get(c, c)): c for c in spec.column_names}
        self.transient_faults = {str(c) for c in params.get("transient_fault_codes",
                                                           ["Server", "Receiver"])}
        self.timeout = (float(params.get("connect_timeout", 5)),
                        float(params.get("read_timeout", 60)))
        self.retry = RetryPolicy.from_params(params.get("retry", {}))
        self.limits = spec.source.limits
        self.run_deadline: Deadline | None = None
        self.session = deadline_session()
        self.pages = 0
        self.attempts = 0
        self.retries: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {"connector": "soap_xml", "url": self.url, "operation": self.operation,
                "soap_action": self.soap_action, "auth": self.auth, "page_size": self.page_size}

    def pending_state(self) -> dict[str, Any]:
        return {}

    # -- the request ---------------------------------------------------------------------
    def envelope(self, page_number: int, window: Window) -> bytes:
        ns, names = self.namespace, self.request_names
        header = ""
        if self.auth == "wsse":
            header = (
                f'<wsse:Security xmlns:wsse="{WSSE}" soapenv:mustUnderstand="1">'
                f"<wsse:UsernameToken><wsse:Username>{escape(self.username)}</wsse:Username>"
                f'<wsse:Password Type="{PASSWORD_TEXT}">{escape(self.password)}</wsse:Password>'
                "</wsse:UsernameToken></wsse:Security>"
            )
        elif self.auth == "header":
            header = (f"<m:AuthHeader><m:username>{escape(self.username)}</m:username>"
                      f"<m:password>{escape(self.password)}</m:password></m:AuthHeader>")
        params = [(names["page_number"], str(page_number)), (names["page_size"], str(self.page_size))]
        if window.since is not None:
            params.append((names["updated_since"], _xsd_datetime(window.since)))
        params.append((names["updated_until"], _xsd_datetime(window.until)))
        body = "".join(f"<m:{k}>{escape(v)}</m:{k}>" for k, v in params)
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:m={quoteattr(ns)}>'
            f"<soapenv:Header>{header}</soapenv:Header>"
            f"<soapenv:Body><m:{self.operation}>{body}</m:{self.operation}></soapenv:Body>"
            "</soapenv:Envelope>"
        ).encode()

    def _fault_error(self, page_number: int, fault: tuple[str, str, str], status: int) -> Exception:
        code, string, detail = fault
        where = f"{self.operation} page {page_number} at {self.url}"
        message = f"{where}: SOAP Fault {code}: {string}" + (f" [{detail}]" if detail else "")
        if code.rsplit(":", 1)[-1] in self.transient_faults:
            return TransientHTTPError(f"{message} (HTTP {status})")
        return SoapFaultError(f"{message} (not retried)", code, string)

    def _call_once(self, page_number: int, window: Window) -> Page:
        self.attempts += 1
        where = f"{self.operation} page {page_number} at {self.url}"
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{self.soap_action}"'}
        deadline = request_deadline(self.limits, self.run_deadline)
        try:
            with headers_within(deadline):
                resp = self.session.post(
                    self.url, data=self.envelope(page_number, window), headers=headers,
                    stream=True, timeout=(self.timeout[0], max(0.1, min(self.timeout[1],
                                                                         deadline.remaining()))))
            content = read_body(resp, self.limits, f"{self.spec.id}: {where}", deadline)
        except requests.Timeout as exc:
            raise TransientHTTPError(f"{where}: timed out ({type(exc).__name__})") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError, urllib3.exceptions.HTTPError) as exc:
            if deadline.remaining() <= 0:
                raise LimitExceeded(f"{self.spec.id}: {where}: no complete answer within "
                                    f"{deadline.seconds:g} s ({deadline.what})") from None
            raise TransientHTTPError(f"{where}: connection failed ({exc})") from exc
        text = content[:300].decode("utf-8", "replace")
        most = int(self.page_size * self.limits.page_size_margin)
        try:
            page = parse_page(content, self.response_names["record"],
                              self.response_names["total"], self.response_names["has_more"],
                              self.element_to_column, max_depth=self.limits.max_depth,
                              max_records=most)
        except RecordTooLarge as exc:
            raise LimitExceeded(
                f"{self.spec.id}: {where}: {exc}, more than source.limits allow (max_depth "
                f"{self.limits.max_depth}; records per page: the {self.page_size:,} asked for x "
                f"page_size_margin {self.limits.page_size_margin:g} = {most:,}); not parsed "
                "further") from None
        except ET.ParseError as exc:
            cut_short = exc.code in CUT_SHORT
            if cut_short and (resp.status_code in (200, 429) or resp.status_code >= 500):
                raise TransientHTTPError(
                    f"{where}: HTTP {resp.status_code}, body is not well-formed XML "
                    f"(cut short or corrupt): {exc}",
                    retry_after=_retry_after(resp),
                ) from None
            if resp.status_code == 200:
                raise ConnectorError(
                    f"{self.spec.id}: {where}: HTTP 200, body is not well-formed XML: {exc} "
                    "(not retried: the document itself is refused, e.g. an undefined entity "
                    "or an entity expansion limit)") from None
            raise ConnectorError(f"{where}: HTTP {resp.status_code} (not retried): "
                                 f"{text}") from None
        if page.fault is not None:
            raise self._fault_error(page_number, page.fault, resp.status_code)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientHTTPError(f"{where}: HTTP {resp.status_code} {text[:200]!r}",
                                     retry_after=_retry_after(resp))
        if resp.status_code != 200:
            raise ConnectorError(f"{where}: HTTP {resp.status_code} (not retried): {text}")
        if page.has_more is None and page.total is None and not page.records:
            raise ConnectorError(
                f"{where}: the answer has no {self.response_names['record']}, "
                f"{self.response_names['total']} or {self.response_names['has_more']} element: "
                f"{text}")
        return page

    def _call(self, page_number: int, window: Window) -> Page:
        return self.retry.call(self._call_once, page_number, window, source=self.spec.id,
                               retries=self.retries, logger=log)

    def _check_progress(self, page_number: int) -> None:
        """Before each request: the run's page count and deadline are bounded."""
        where = f"{self.spec.id}: {self.operation} at {self.url}"
        if page_number > self.limits.max_pages:
            raise LimitExceeded(f"{where}: more than source.limits.max_pages "
                                f"({self.limits.max_pages:,}) pages in one run")
        assert self.run_deadline is not None
        self.run_deadline.check(f"{where}: the extract")

    # -- paging --------------------------------------------------------------------------
    def _key_hashes(self, records: list[dict[str, Any]]) -> np.ndarray:
        """One 64-bit hash per record of its primary key (as delivered)."""
        keys = self.spec.primary_key
        return np.fromiter((hash(tuple(r.get(k) for k in keys)) for r in records),
                           dtype=np.int64, count=len(records))

    def _check_repeated_keys(self, window: Window, pages: list[np.ndarray]) -> None:
        """A key on two pages: read the earlier page again; if it changed, records moved
        while paging (and another record was skipped)."""
        if len(pages) < 2:
            return
        hashes = np.concatenate(pages)
        page_of = np.repeat(np.arange(1, len(pages) + 1), [len(p) for p in pages])
        order = np.argsort(hashes, kind="stable")
        hashes, page_of = hashes[order], page_of[order]
        repeated = (hashes[1:] == hashes[:-1]) & (page_of[1:] != page_of[:-1])
        for number in sorted({int(n) for n in page_of[:-1][repeated]}):
            again = self._call(number, window)
            self.pages += 1
            if not np.array_equal(self._key_hashes(again.records), pages[number - 1]):
                raise ConnectorError(
                    f"{self.spec.id}: records changed while paging: a record of page {number} "
                    f"was delivered again on a later page and page {number} now holds other "
                    "records (page-number paging skipped some); run the extract again")

    def extract(self, window: Window, state: DatasetState) -> Iterator[pa.RecordBatch]:
        expected = self.spec.column_names
        seen: set[str] = set()
        announced: int | None = None
        received = 0
        page_number = 1
        keys: list[np.ndarray] = []
        self.run_deadline = Deadline(self.limits.run_seconds, "source.limits.run_seconds")
        while True:
            self._check_progress(page_number)
            page = self._call(page_number, window)
            self.pages += 1
            if announced is None:
                announced = page.total
            elif page.total is not None and page.total != announced:
                change = "grew" if page.total > announced else "shrank"
                raise ConnectorError(
                    f"{self.spec.id}: the service's total changed from {announced} to "
                    f"{page.total} ({change}) at page {page_number}: records changed while "
                    "paging and page-number paging would skip or repeat some; run the "
                    "extract again")
            keys.append(self._key_hashes(page.records))
            if page.records:
                batch, page_seen = page_batch(page.records, expected)
                seen |= page_seen
                received += batch.num_rows
                yield batch
            more = page.has_more
            if more is None:  # the service does not say: a short page is the last one
                more = len(page.records) >= self.page_size
            if not more:
                break
            if not page.records:
                raise ConnectorError(f"{self.spec.id}: page {page_number} is empty but the "
                                     "service says it has more")
            page_number += 1
        if announced is not None and received != announced:
            raise ConnectorError(
                f"{self.spec.id}: received {received} records in {page_number} pages but the "
                f"service announced {announced}; nothing is published from this run")
        self._check_repeated_keys(window, keys)
        if received:
            self.drift.note(seen, expected)
            if self.drift.extra_columns or self.drift.missing_columns:
                log.warning("%s: schema drift at %s: extra elements %s, missing %s", self.spec.id,
                            self.url, self.drift.extra_columns, self.drift.missing_columns)


def _xsd_datetime(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    return float(value) if value and value.isdigit() else None


@register("soap_xml", required=("url", "namespace"), params={
    "url": "text", "namespace": "text", "operation": "text", "soap_action": "text",
    "auth": ("wsse", "header", "none"), "username": "text", "password": "text", "page_size": "int",
    "request_elements": "mapping", "response_elements": "mapping", "fields": "column_keys",
    "transient_fault_codes": "list", "connect_timeout": "number", "read_timeout": "number",
    "retry": "mapping"})
def build_soap_xml(spec: DatasetSpec, params: dict[str, Any]) -> SoapXmlConnector:
    return SoapXmlConnector(spec, params)
