"""REST paging against a real HTTP server on 127.0.0.1: pages fetched ahead and parsed in
parallel still arrive complete and in order; a cursor guessed wrongly from a page's bytes is
dropped and the confirmed one followed; closing the consumer stops the fetching."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from catalog.spec import get_spec
from connectors.base import Window
from connectors.rest import RestConnector
from connectors.state import DatasetState
from tests.http_stub import send_body, serve

SPEC = get_spec("population")
PAGES = 12
PER_PAGE = 3


def _record(n: int, **extra: object) -> dict[str, object]:
    return {**{name: f"{name}-{n}" for name in SPEC.column_names}, **extra}


class _Registry(BaseHTTPRequestHandler):
    """Pages 0..PAGES-1 behind opaque cursors "p<N>". With `decoy`, each body puts the real
    `next_cursor` first and a record field of the same name last, so a cursor read off the
    page's last bytes is wrong; the server answers that cursor too (a page of junk)."""

    decoy = False
    refuse_decoy = False
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        cursor = parse_qs(urlparse(self.path).query).get("cursor", ["p0"])[0]
        type(self).requests.append(cursor)
        if cursor == "decoy" and self.refuse_decoy:
            self.send_error(400, "unknown cursor")
            return
        if cursor == "decoy":
            records = [_record(-1, next_cursor="decoy")]
            body = {"next_cursor": None, "data": records}
        else:
            page = int(cursor[1:])
            records = [_record(page * PER_PAGE + i) for i in range(PER_PAGE)]
            following = f"p{page + 1}" if page + 1 < PAGES else None
            if self.decoy:
                records[-1]["next_cursor"] = "decoy"
                body = {"next_cursor": following, "data": records}
            else:
                body = {"data": records, "next_cursor": following}
        send_body(self, orjson.dumps(body), "application/json")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> Iterator[str]:
    decoy, refuse = (request.param, False) if isinstance(request.param, bool) else request.param
    handler = type("Handler", (_Registry,),
                   {"decoy": decoy, "refuse_decoy": refuse, "requests": []})
    with serve(handler) as url:
        yield url, handler


def _extract(url: str) -> Iterator:
    connector = RestConnector(SPEC, {"base_url": url, "path": "/api/v1/citizens",
                                     "page_size": PER_PAGE})
    window = Window(since=None, until=datetime.now(UTC))
    return connector, connector.extract(window, DatasetState(watermark=None))


@pytest.mark.parametrize("registry", [False, True, (True, True)],
                         ids=["plain", "decoy cursor", "decoy cursor refused with 400"],
                         indirect=True)
def test_every_page_arrives_once_and_in_order(registry) -> None:
    url, handler = registry
    connector, batches = _extract(url)
    ids = [pid for batch in batches for pid in batch.column("personal_id").to_pylist()]
    assert ids == [f"personal_id-{n}" for n in range(PAGES * PER_PAGE)]
    assert connector.pages == PAGES
    real = [c for c in handler.requests if c != "decoy"]
    assert real == [f"p{n}" for n in range(PAGES)]
    if handler.decoy:
        # Every wrong guess was fetched (ahead) and dropped; the junk page never surfaced.
        assert handler.requests.count("decoy") >= 1
        assert connector.drift.extra_columns == ["next_cursor"]


@pytest.mark.parametrize("registry", [False], indirect=True)
def test_closing_the_consumer_stops_fetching(registry) -> None:
    url, handler = registry
    _, batches = _extract(url)
    first = next(batches)
    assert first.num_rows == PER_PAGE
    batches.close()
    fetched = len(handler.requests)
    assert fetched < PAGES  # only the read-ahead, not the whole registry
