"""Records changing while the soap_xml connector pages through a window, against the real
simulated insurance service (its own process: these tests change its data) and, for a key
the source itself repeats, a plain HTTP server on 127.0.0.1 serving fixed pages.

The window here closes a day ahead of now (a source whose clock is behind ours, or a window
closing later): the service stamps changed records with its clock, so they stay inside the
window and move to its end (it sorts by update time, then key)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest

from connectors.base import ConnectorError, Window
from connectors.registry import build_connector
from connectors.state import DatasetState
from registries.insurance.generator import DEFAULT_AS_OF, generate_insurance
from registries.insurance.soap_messages import parse_request, render_members
from tests.http_stub import send_body, serve
from tests.insurance.conftest import SEED, SIZE, point_at, spec_with

PAGE = 200


def _paging(window: Window):  # type: ignore[no-untyped-def]
    connector = build_connector(spec_with(page_size=PAGE))
    return connector, connector.extract(window, DatasetState(watermark=None))


def _open_window() -> Window:
    return Window(since=None, until=datetime.now(UTC) + timedelta(days=1))


def test_records_entering_the_window_while_paging_fail_the_extract(env, admin):
    _, pages = _paging(_open_window())
    next(pages)
    change = admin.advance(enrolments=3)  # three new members, inside the window
    assert change["enrolled"] == 3
    with pytest.raises(ConnectorError, match=r"the service's total changed from (\d+) to "
                                             r"\d+ \(grew\) at page 2: records changed while "
                                             r"paging"):
        list(pages)


def test_a_record_moving_inside_the_window_while_paging_fails_the_extract(env, admin):
    # Renewed cards move to the end of the window: the total stays, every later page shifts,
    # the records that slide back over the page boundary would be skipped, and the moved
    # ones read twice.
    connector, pages = _paging(_open_window())
    first = next(pages)
    assert first.num_rows == PAGE
    change = admin.advance(renewals=300)
    assert change["renewed"] == 300
    with pytest.raises(ConnectorError, match=r"records changed while paging: a record of page "
                                             r"1 was delivered again on a later page and page "
                                             r"1 now holds other records"):
        list(pages)


class _FixedPages(BaseHTTPRequestHandler):
    """GetMembers over a fixed list of rows, in pages as the request asks."""

    rows: list[dict[str, str | None]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        call = parse_request(body, self.headers.get("SOAPAction"))
        start = (call.page_number - 1) * call.page_size
        page = self.rows[start:start + call.page_size]
        payload = render_members(page, len(self.rows), call.page_number, call.page_size,
                                 start + call.page_size < len(self.rows))
        send_body(self, payload, "text/xml; charset=utf-8")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fixed_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_FixedPages]]:
    with serve(_FixedPages) as url:
        point_at(monkeypatch, url)
        yield _FixedPages


def test_a_key_the_source_repeats_on_unchanging_pages_is_left_to_the_gate(fixed_service):
    members = generate_insurance(SIZE, SEED, as_of=DEFAULT_AS_OF).members.slice(0, 5).to_pylist()
    again = {**members[0], "full_name": "Bản sao"}  # the source holds this key twice
    fixed_service.rows = [members[0], members[1], members[2], again, members[3]]
    connector = build_connector(spec_with(page_size=2))
    batches = list(connector.extract(Window(None, datetime.now(UTC)),
                                     DatasetState(watermark=None)))
    keys = [k for b in batches for k in b.column("bhxh_number").to_pylist()]
    assert keys == [m["bhxh_number"] for m in fixed_service.rows]
    assert connector.pages == 4, "three pages, and page 1 read again to tell a move"
