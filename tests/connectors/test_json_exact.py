"""JSON pages kept exactly as delivered: every scalar shape becomes the text the registry
wrote (big integers are not floats, -0 stays -0), a field named twice is reported, and the
nesting depth is found from the bytes before any parser runs."""

from __future__ import annotations

import json
import string

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.spec import get_spec
from connectors.limits import json_too_deep
from connectors.rest import RestConnector, _Response

SPEC = get_spec("population")


def _connector() -> RestConnector:
    return RestConnector(SPEC, {"base_url": "http://127.0.0.1:9", "path": "/x", "page_size": 50})


def _page(value_json: bytes) -> bytes:
    base = {name: f"{name}-v" for name in SPEC.column_names if name != "household_id"}
    record = orjson.dumps(base)[:-1] + b',"household_id":' + value_json + b"}"
    return b'{"data":[' + record + b'],"next_cursor":null}'


def _household(value_json: bytes) -> object:
    batch, _ = _connector()._decode(_Response("http://registry/p", _page(value_json)))
    assert batch is not None
    return batch.column(batch.schema.names.index("household_id"))[0].as_py()


@pytest.mark.parametrize("literal, expected", [
    (b"99999999999999999999", "99999999999999999999"),
    (b"-99999999999999999999999999", "-99999999999999999999999999"),
    (b"18446744073709551616", "18446744073709551616"),
    (b"123", "123"),
    (b"-0", "-0"),
    (b"0.0", "0.0"),
    (b"1e5", "1e5"),
    (b"1E+20", "1E+20"),
    (b"-12.50", "-12.50"),
    (b"0.1", "0.1"),
    (b"1.7976931348623157e309", "1.7976931348623157e309"),
    (b"true", "true"),
    (b"false", "false"),
    (b"null", None),
    (b'"\\u00e9\\ud83d\\ude00\\n"', "é😀\n"),
    (b'"00123"', "00123"),
    (b'{"a": 1.50, "b": [1, 2e3, -0]}', '{"a":1.50,"b":[1,2e3,-0]}'),
    (b"[99999999999999999999]", "[99999999999999999999]"),
])
def test_every_json_scalar_shape_is_kept_as_written(literal: bytes, expected: object) -> None:
    assert _household(literal) == expected


NUMBER = st.from_regex(r"\A-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z")


@settings(max_examples=200, deadline=None)
@given(NUMBER)
def test_any_json_number_keeps_its_digits(literal: str) -> None:
    assert _household(literal.encode()) == literal


def test_a_field_named_twice_is_reported_as_drift_and_the_last_value_kept() -> None:
    body = _page(b'"first"').replace(b'"full_name":"full_name-v"',
                                     b'"full_name":"A","full_name":"B"')
    connector = _connector()
    batch, _ = connector._decode(_Response("http://registry/p", body))
    assert batch is not None and batch.column("full_name")[0].as_py() == "B"
    assert connector.drift.as_dict()["repeated_fields"] == ["full_name"]


# --- depth from the bytes ------------------------------------------------------------------

TEXT = st.text(alphabet=string.ascii_letters + '[]{}"\\ ,:', max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=40,
)


def _depth(value: object) -> int:
    """Arrays/objects nested in a Python value: the oracle, from the parsed structure."""
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(JSON, st.integers(min_value=1, max_value=8), st.booleans())
def test_depth_from_the_bytes_agrees_with_the_parsed_structure(value: object, limit: int,
                                                               spaced: bool) -> None:
    text = json.dumps(value, indent=1 if spaced else None).encode()
    found = json_too_deep(text, limit)
    if _depth(value) <= limit:
        assert found is None
    else:
        assert found is not None and found > limit


def test_a_page_too_deep_is_refused_before_parsing_naming_the_url_and_the_limit() -> None:
    body = _page(b"[" * 17_000 + b"]" * 17_000)
    with pytest.raises(Exception, match=r"population: GET http://registry/p\?c=1: the page nests "
                                        r"at least \d+ levels deep, more than "
                                        r"source.limits.max_depth \(32\)"):
        _connector()._decode(_Response("http://registry/p?c=1", body))
