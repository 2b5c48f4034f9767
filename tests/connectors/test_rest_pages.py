"""REST pages: the Arrow JSON fast path gives exactly what orjson record by record gives.

Every page below is decoded by the connector and by the reference (orjson, then
records_to_batch); the batches, the schema drift noted and the paginator's view of the body
must be the same, whichever path the connector took.
"""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest

from catalog.spec import get_spec
from connectors.base import ConnectorError, SchemaDrift, records_to_batch
from connectors.rest import RestConnector, _Response

SPEC = get_spec("population")
COLUMNS = SPEC.column_names


def _connector() -> RestConnector:
    return RestConnector(SPEC, {"base_url": "http://127.0.0.1:9", "path": "/api/v1/citizens"})


def _record(**values: object) -> dict[str, object]:
    base: dict[str, object] = {name: f"{name}-value" for name in COLUMNS}
    base.update(values)
    return base


def _reference(body: bytes) -> tuple[pa.RecordBatch | None, dict[str, list[str]]]:
    records = orjson.loads(body)["data"]
    drift = SchemaDrift()
    batch = records_to_batch(records, COLUMNS, drift) if records else None
    return batch, drift.as_dict()


PAGES = {
    "plain": [_record(), _record(full_name="Nguyễn Văn An", date_of_death=None)],
    "escapes": [_record(full_name='Lê "Tí" \\ Nguyên\u00e9\n\t\x01', residence_address="Ấp 3")],
    "number where text is declared": [_record(household_id=123), _record()],
    "boolean and object": [_record(status=True, ethnicity={"code": 1})],
    "extra field": [_record(nickname="Tí"), _record()],
    "field absent from every record": [
        {k: v for k, v in _record().items() if k != "date_of_death"} for _ in range(3)
    ],
    "field null in every record": [_record(date_of_death=None) for _ in range(3)],
    "field absent from some records": [
        _record(), {k: v for k, v in _record().items() if k != "ethnicity"},
    ],
}


@pytest.mark.parametrize("label", list(PAGES))
def test_page_decodes_like_the_orjson_reference(label: str) -> None:
    body = orjson.dumps({"data": PAGES[label], "next_cursor": "c2VxOjQy", "page_size": 10})
    connector = _connector()
    batch, envelope = connector._decode(_Response("http://x/page", body))
    expected, drift = _reference(body)
    assert batch is not None and expected is not None
    assert batch.schema == expected.schema, label
    assert batch.equals(expected), label
    assert connector.drift.as_dict() == drift, label
    assert envelope["next_cursor"] == "c2VxOjQy"


def test_the_fast_path_takes_a_plain_page() -> None:
    body = orjson.dumps({"data": PAGES["plain"], "next_cursor": None})
    assert _connector()._decode_arrow(body) is not None


def test_empty_last_page_has_no_batch() -> None:
    batch, envelope = _connector()._decode(_Response("u", b'{"data": [], "next_cursor": null}'))
    assert batch is None and envelope.get("next_cursor") is None


@pytest.mark.parametrize("body, message", [
    (b'{"data": [', "not valid JSON"),
    (b'{"items": []}', "expected an object with a 'data' list"),
    (b'{"data": "x"}', "expected an object with a 'data' list"),
    (b'{"data": [1, 2]}', "every item of 'data' must be an object"),
])
def test_bad_pages_fail_naming_the_url(body: bytes, message: str) -> None:
    with pytest.raises(ConnectorError, match=message) as err:
        _connector()._decode(_Response("http://registry/api/v1/citizens?page_size=2", body))
    assert "http://registry/api/v1/citizens?page_size=2" in str(err.value)


def test_next_cursor_is_read_off_the_bytes_before_parsing() -> None:
    connector = _connector()
    params = {"page_size": 10}
    body = orjson.dumps({"data": PAGES["plain"], "next_cursor": "abc\\\"d", "page_size": 10})
    assert connector._guess_next(body, params) == {"page_size": 10, "cursor": 'abc\\"d'}
    last = orjson.dumps({"data": PAGES["plain"], "next_cursor": None})
    assert connector._guess_next(last, params) is None


def _escaped_page(name_escape: bytes) -> bytes:
    """A page whose full_name is written with a JSON \\u escape (as ensure_ascii writers do)."""
    record = orjson.dumps(_record(full_name="@NAME@"))
    return b'{"data": [' + record.replace(b"@NAME@", name_escape) + b'], "next_cursor": null}'


def test_escaped_surrogate_pairs_decode_like_orjson() -> None:
    body = _escaped_page(b"Nguy\\u1ec5n \\ud83d\\ude00 \\uDBFF\\uDFFF")
    batch, _ = _connector()._decode(_Response("u", body))
    expected, _ = _reference(body)
    assert batch is not None and batch.equals(expected)
    assert batch.column("full_name")[0].as_py() == "Nguyễn \U0001f600 \U0010ffff"


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udc00", b"\\ud83d\\u0041",
                                    b"\\udc00\\ud800", b"x\\uDFFF"])
def test_lone_surrogates_fail_naming_the_url(escape: bytes) -> None:
    with pytest.raises(ConnectorError, match="not valid JSON") as err:
        _connector()._decode(_Response("http://registry/p?cursor=7", _escaped_page(escape)))
    assert "http://registry/p?cursor=7" in str(err.value)
