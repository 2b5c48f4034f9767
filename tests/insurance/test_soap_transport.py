"""The soap_xml transport: XML round trips (property test), SOAP Faults, retries of transient
failures, window filtering and paging consistency, against the real simulated service."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import ConnectorError, Window
from connectors.registry import build_connector
from connectors.soap_xml import SoapFaultError, page_batch, parse_page
from connectors.state import DatasetState
from registries.insurance.generator import DEFAULT_AS_OF, generate_insurance
from registries.insurance.soap_messages import ELEMENTS, SoapFault, render_fault, render_members
from tests.insurance.conftest import PASSWORD, SEED, SIZE, spec_with

COLUMNS = list(ELEMENTS)
TO_COLUMN = {el: col for col, el in ELEMENTS.items()}
NOW = Window(since=None, until=datetime.now(UTC))


def _parse(body: bytes):
    return parse_page(body, "member", "total", "hasMore", TO_COLUMN)


# XML 1.0 characters (no other control characters, no surrogates), Vietnamese included.
xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
                   | st.sampled_from("\t\n\r<>&'\"ĐđƯươÀ"), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({c: st.one_of(st.none(), xml_text) for c in COLUMNS}),
                max_size=8),
       st.dictionaries(st.sampled_from(["noiDangKyKcb", "ghiChu"]), xml_text, max_size=2))
def test_values_survive_the_xml_round_trip(rows, extra):
    body = render_members(rows, total=len(rows), page_number=1, page_size=10, has_more=False,
                          extra=extra)
    page = _parse(body)
    assert (page.total, page.has_more, page.fault) == (len(rows), False, None)
    assert page.records == [{**row, **extra} for row in rows]


def test_extra_nested_and_repeated_elements_are_kept_not_dropped():
    body = (b'<Envelope><Body><GetMembersResponse><total>1</total><hasMore>false</hasMore>'
            b'<members><member><maSoBhxh>9612345678</maSoBhxh><maThe>A</maThe><maThe>B</maThe>'
            b'<diaChi><tinh>96</tinh><xa>31999</xa></diaChi><personal_id>x</personal_id>'
            b'</member></members></GetMembersResponse></Body></Envelope>')
    [record] = _parse(body).records
    assert record["bhxh_number"] == "9612345678"
    assert record["card_number"] == ["A", "B"]
    assert record["diaChi"] == "<tinh>96</tinh><xa>31999</xa>"
    assert record["personal_id__xml"] == "x"  # an unknown element named like a column
    batch, seen = page_batch([record], COLUMNS)
    assert batch.schema.names == ["bhxh_number", "card_number", "diaChi", "personal_id__xml"]
    assert batch.column("card_number").to_pylist() == ['["A","B"]']


def test_a_fault_body_is_recognised():
    page = _parse(render_fault(SoapFault("soap:Client", "pageSize 0 < 1", "E_BAD_PARAMETER")))
    assert page.fault == ("soap:Client", "pageSize 0 < 1", "E_BAD_PARAMETER")
    assert page.records == []


def _extract(spec, window: Window = NOW) -> tuple[object, list]:
    connector = build_connector(spec)
    return connector, list(connector.extract(window, DatasetState(watermark=None)))


def test_bad_credentials_fail_at_once_with_the_fault(env, admin, monkeypatch):
    monkeypatch.setenv("LGSP_INSURANCE_PASSWORD", "wrong")
    connector = build_connector(spec_with())
    with pytest.raises(SoapFaultError, match="SOAP Fault wsse:FailedAuthentication: The security "
                                             "token could not be authenticated") as err:
        list(connector.extract(NOW, DatasetState(watermark=None)))
    assert "not retried" in str(err.value) and connector.attempts == 1
    assert "wrong" not in str(connector.describe()) and PASSWORD not in str(connector.describe())


def test_bad_parameters_and_client_faults_are_not_retried(env, admin):
    with pytest.raises(SoapFaultError, match=r"soap:Client: pageSize 9000 is out of range "
                                             r"\(1..5000\) \[E_BAD_PARAMETER\]"):
        _extract(spec_with(page_size=9000))
    admin.faults({"kind": "fault", "code": "soap:Client", "string": "Mã đơn vị không hợp lệ"})
    connector = build_connector(spec_with())
    with pytest.raises(SoapFaultError, match="soap:Client: Mã đơn vị không hợp lệ"):
        list(connector.extract(NOW, DatasetState(watermark=None)))
    assert connector.attempts == 1 and connector.retries == []


def test_transient_failures_are_retried_within_the_budget(env, admin):
    members = admin.stats()["members"]
    admin.faults({"kind": "fault", "count": 2},
                 {"kind": "status", "status": 503, "retry_after": 1, "after_pages": 1},
                 {"kind": "delay", "seconds": 3, "after_pages": 2},
                 {"kind": "drop", "after_pages": 3})
    connector, batches = _extract(spec_with(read_timeout=0.5, retry={"max_attempts": 4}))
    assert sum(b.num_rows for b in batches) == members
    retries = connector.retries
    assert len(retries) == 5, retries
    assert "SOAP Fault soap:Server" in retries[0] and "SOAP Fault soap:Server" in retries[1]
    assert "HTTP 503" in retries[2] and "retrying in 1.0s" in retries[2]
    assert "timed out" in retries[3]
    assert "connection failed" in retries[4] and "page 4" in retries[4]


def test_header_auth_and_the_window_select_exactly_the_changed_rows(env, admin):
    truth = generate_insurance(SIZE, SEED, as_of=DEFAULT_AS_OF).members
    stamps = sorted(datetime.fromisoformat(t) for t in truth.column("updated_at").to_pylist())
    since, until = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]
    expected = sum(1 for s in stamps if since < s <= until)
    _, batches = _extract(spec_with(auth="header", page_size=300), Window(since, until))
    got = [datetime.fromisoformat(t) for b in batches for t in b.column("updated_at").to_pylist()]
    assert len(got) == expected and all(since < t <= until for t in got)
    assert max(b.num_rows for b in batches) == 300


def test_an_empty_window_yields_nothing_and_reports_no_drift(env, admin):
    connector, batches = _extract(spec_with(), Window(since=NOW.until, until=NOW.until))
    assert batches == [] and connector.pages == 1
    assert connector.drift.as_dict() == {"extra_columns": [], "missing_columns": []}


def test_records_changing_while_paging_fail_the_extract(env, admin):
    """Runs last in this module: it changes the service's data."""
    connector = build_connector(spec_with(page_size=200))
    pages = connector.extract(Window(None, datetime.now(UTC)), DatasetState(watermark=None))
    next(pages)
    admin.advance(renewals=3)  # three rows leave the window: later pages shift
    with pytest.raises(ConnectorError, match="the service's total changed from .* at page 2: "
                                             "records changed while paging"):
        list(pages)


def test_elements_nested_too_deep_are_refused_inside_and_outside_records() -> None:
    """ElementTree turns nested content into text recursively (a 1,000-level element in a
    record was an unhandled RecursionError); a Fault's detail is read the same way."""
    from connectors.soap_xml import RecordTooLarge, parse_page

    inner = "<b>" * 40 + "x" + "</b>" * 40
    record = f"<r><member><id>1</id><name>{inner}</name></member></r>".encode()
    with pytest.raises(RecordTooLarge, match="member record 1 nests elements more than 32"):
        parse_page(record, "member", "total", "hasMore", {"id": "id"}, max_depth=32)
    fault = ("<Envelope><Body><Fault><detail>" + "<d>" * 40 + "</d>" * 40
             + "</detail></Fault></Body></Envelope>").encode()
    with pytest.raises(RecordTooLarge, match="outside any record"):
        parse_page(fault, "member", "total", "hasMore", {"id": "id"}, max_depth=32)
    fine = parse_page(record.replace(inner.encode(), b"<b><b>x</b></b>"), "member", "total",
                      "hasMore", {"id": "id"}, max_depth=32)
    assert fine.records[0]["name"] == "<b><b>x</b></b>"
