"""Downloads over real HTTP from `lgsp serve` in its own process: the file equals the export,
ETag is its sha256, Last-Modified is set, If-None-Match gives 304, and a download resumed
with Range requests (206 parts) equals the whole file."""

from __future__ import annotations

import hashlib

import requests

from opendata.exports import current_distributions
from tests.opendata.conftest import LiveServer


def test_resumed_range_download_equals_the_whole_file(live_server: LiveServer) -> None:
    settings = live_server.published.settings
    for dist in current_distributions(settings, "business_registry"):
        url = f"{live_server.url}/download/business_registry/{dist.snapshot_id}/{dist.format}"
        whole = requests.get(url, timeout=30)
        assert whole.status_code == 200
        assert whole.content == (settings.home / dist.path).read_bytes()
        assert hashlib.sha256(whole.content).hexdigest() == dist.sha256
        assert whole.headers["etag"] == f'"{dist.sha256}"'
        assert whole.headers["last-modified"]
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-type"].startswith(dist.media_type)

        # An interrupted download: the first third, then the rest resumed with Range.
        cut = dist.byte_size // 3
        first = requests.get(url, headers={"Range": f"bytes=0-{cut - 1}"}, timeout=30)
        assert first.status_code == 206 and len(first.content) == cut
        rest = requests.get(url, headers={"Range": f"bytes={cut}-",
                                          "If-Range": whole.headers["etag"]}, timeout=30)
        assert rest.status_code == 206
        assert rest.headers["content-range"] == f"bytes {cut}-{dist.byte_size - 1}/{dist.byte_size}"
        assert first.content + rest.content == whole.content


def test_current_download_conditional_get_and_missing_file(live_server: LiveServer) -> None:
    settings = live_server.published.settings
    csv = next(d for d in current_distributions(settings, "business_registry") if d.format == "csv")
    url = f"{live_server.url}/download/business_registry/csv"
    first = requests.get(url, timeout=30)
    assert first.status_code == 200 and first.content == (settings.home / csv.path).read_bytes()
    again = requests.get(url, headers={"If-None-Match": first.headers["etag"]}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == first.headers["etag"]
    assert int(head.headers["content-length"]) == csv.byte_size
    assert requests.get(f"{live_server.url}/download/business_registry/docx", timeout=30).status_code == 404
    assert requests.get(f"{live_server.url}/download/population/csv", timeout=30).status_code == 404
    assert requests.get(f"{live_server.url}/download/business_registry/1/csv", timeout=30).status_code == 404
