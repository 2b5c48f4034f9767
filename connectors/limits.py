"""Bounds on what a source may send: the spec's `source.limits`, enforced for every transport.

A province does not control its sources. A broken or hostile registry must cost one failed
run with a message naming the source and the limit, never a dead worker (a C parser
recursing into a 17,000-level JSON page), a hung DAG (a body sent a byte a second), a full
disk or memory (an endless or gzip-bombed body, a page of a million records when ten
thousand were asked). This module owns the checks that do not depend on a transport:

- `read_body`: an HTTP body read in pieces, capped on the wire and after gzip/deflate
  decoding (decoded by zlib here, at most the allowance at a time), under a deadline;
- `json_too_deep`: the nesting depth of a JSON document, found before any parser sees it,
  with a few C-speed passes over the bytes (`bytes.translate`, `bytes.replace`);
- `check_batch`: every value of a batch within `max_cell_bytes` and free of NUL bytes
  (text with a NUL is not text: it is refused, naming the column and the row);
- `Deadline`: the run's deadline (`run_seconds`), each request's (`request_seconds`).
"""

from __future__ import annotations

import contextvars
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import requests
import urllib3.connection
import urllib3.connectionpool

from catalog.spec import Limits
from connectors.base import ConnectorError

READ_PIECE = 1 << 16


class LimitExceeded(ConnectorError):
    """The source sent more (bytes, records, pages, depth, time) than the spec allows.
    Deterministic: never retried."""


def size(n: float) -> str:
    """Bytes for a message: 64 MiB, 1.5 kiB, 12 bytes."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("kiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


class Deadline:
    """A wall-clock deadline on the monotonic clock, named for messages."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, where: str) -> None:
        if time.monotonic() > self.at:
            raise LimitExceeded(f"{where}: did not finish within {self.seconds:g} s "
                                f"({self.what})")

    def sooner(self, other: Deadline | None) -> Deadline:
        return other if other is not None and other.at < self.at else self


def request_deadline(limits: Limits, run: Deadline | None) -> Deadline:
    """This request's deadline: `request_seconds` from now, or the run's if sooner."""
    return Deadline(limits.request_seconds,
                    "source.limits.request_seconds").sooner(run)


def _decoder(encoding: str, where: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS | 32)
    raise ConnectorError(f"{where}: unsupported Content-Encoding {encoding!r} "
                         "(gzip, deflate or none)")


def read_body(resp: Any, limits: Limits, where: str, deadline: Deadline) -> bytes:
    """The body of a `requests` response opened with stream=True, decoded, within the
    spec's byte limits and the deadline. The session must not ask for encodings other than
    gzip/deflate (see `ACCEPT_ENCODING`)."""
    wire_cap, body_cap = limits.max_response_bytes, limits.max_decompressed_bytes
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > wire_cap:
        resp.close()
        raise LimitExceeded(f"{where}: the response announces {size(int(declared))}, more "
                            f"than source.limits.max_response_bytes ({size(wire_cap)})")
    decoder = _decoder(resp.headers.get("Content-Encoding", ""), where)
    pieces: list[bytes] = []
    decoded = 0
    wire = 0
    raw = resp.raw
    try:
        while True:
            deadline.check(where)
            piece = raw.read1(READ_PIECE, decode_content=False)
            if not piece:
                break
            wire += len(piece)
            if wire > wire_cap:
                raise LimitExceeded(f"{where}: the response is larger than "
                                    f"source.limits.max_response_bytes ({size(wire_cap)}) on "
                                    "the wire; nothing of it is used")
            if decoder is None:
                pieces.append(piece)
                decoded += len(piece)
            else:
                while piece:
                    try:
                        out = decoder.decompress(piece, body_cap - decoded + 1)
                    except zlib.error as exc:
                        raise ConnectorError(f"{where}: the compressed body is corrupt "
                                             f"({exc})") from None
                    pieces.append(out)
                    decoded += len(out)
                    piece = decoder.unconsumed_tail
                    if decoded > body_cap:
                        break
            if decoded > body_cap:
                raise LimitExceeded(
                    f"{where}: the response decompresses to more than "
                    f"source.limits.max_decompressed_bytes ({size(body_cap)}; "
                    f"{size(wire)} on the wire so far)")
        if decoder is not None:
            pieces.append(decoder.flush())
    finally:
        resp.close()
    return b"".join(pieces)


ACCEPT_ENCODING = "gzip, deflate"
"""What sessions ask for: the encodings `read_body` decodes itself, under its caps."""


# --- the deadline while the status line and headers arrive ----------------------------------
# A read timeout restarts with every byte, so a registry dribbling its headers would hold a
# request forever. While a deadline is set (`deadline_session` sessions, `headers_within`),
# the connection is shut down when it passes; the read then fails and the caller names the
# limit. Body reads are bounded by `read_body` itself.

_HEADERS_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "lgsp_headers_deadline", default=None)


def _shut(sock: Any) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _DeadlineMixin:
    sock: Any

    def getresponse(self) -> Any:
        deadline = _HEADERS_DEADLINE.get()
        if deadline is None or self.sock is None:
            return super().getresponse()  # type: ignore[misc]
        timer = threading.Timer(max(0.0, deadline.remaining()), _shut, (self.sock,))
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            timer.cancel()


class _HTTPConnection(_DeadlineMixin, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineMixin, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def deadline_session() -> requests.Session:
    """A requests session whose connections honour `headers_within`, asking only for the
    encodings `read_body` decodes."""
    session = requests.Session()
    session.headers["Accept-Encoding"] = ACCEPT_ENCODING
    for adapter in session.adapters.values():
        adapter.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return session


@contextmanager
def headers_within(deadline: Deadline) -> Iterator[None]:
    """Requests made in this block (this thread) must have their headers by `deadline`."""
    token = _HEADERS_DEADLINE.set(deadline)
    try:
        yield
    finally:
        _HEADERS_DEADLINE.reset(token)


_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\\')
"""Every byte but brackets, quotes and backslashes (deleted before counting depth)."""
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_SLICE = 1 << 17
"""Bytes translated at a time: a page-sized temporary per page fragmented the decoder
threads' heaps (+80 MB peak on the population bench); slices of 128 kB do not."""


def json_too_deep(content: bytes, max_depth: int) -> int | None:
    """None when the JSON text nests at most `max_depth` arrays/objects; else a depth
    beyond it. Works on the bytes without parsing, at C speed: only brackets, quotes and
    backslashes are kept (brackets as one kind: matching kinds is the parser's job). Without
    backslashes, a string holding no bracket or quote is `""` there: when every quote is in
    such a pair (counted left to right), every bracket is outside strings. Then each pass of
    `replace(b"[]", b"")` drops one level of every branch, so the passes until nothing is
    left are the depth. A page with escapes or brackets inside strings is measured exactly
    (`_depth_exact`). Unbalanced brackets (a truncated body) count as deep only when they
    could nest beyond the limit; a parser reports them otherwise."""
    view = memoryview(content)
    skeleton = b"".join(bytes(view[i:i + _SLICE]).translate(_ONE_KIND, _STRUCTURE)
                        for i in range(0, len(content), _SLICE))
    if b"\\" in skeleton:
        return _depth_exact(content, max_depth)
    if skeleton.count(b'"') != 2 * skeleton.count(b'""'):  # a quote not in a `""`
        return _depth_exact(content, max_depth)
    skeleton = skeleton.translate(None, b'"')
    for passes in range(max_depth + 1):
        if not skeleton:
            return None
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):  # unbalanced: openers left
            deepest = passes + shorter.count(b"[")
            return None if deepest <= max_depth else deepest
        skeleton = shorter
    return max_depth + 1


def _depth_exact(content: bytes, max_depth: int) -> int | None:
    """Depth outside strings (None when at most `max_depth`), found with numpy: quotes not
    escaped by an odd run of backslashes delimit strings; brackets between them do not count."""
    data = np.frombuffer(content, dtype=np.uint8)
    quotes = np.flatnonzero(data == 0x22)
    backslashes = np.flatnonzero(data == 0x5C)
    if len(quotes) and len(backslashes):
        # A quote is escaped when the run of backslashes just before it is odd.
        breaks = np.flatnonzero(np.diff(backslashes) != 1)
        starts = backslashes[np.r_[0, breaks + 1]]
        ends = backslashes[np.r_[breaks, len(backslashes) - 1]]
        after = quotes[quotes > 0]
        after = after[data[after - 1] == 0x5C]
        run = np.searchsorted(ends, after - 1)
        escaped = after[(ends[run] - starts[run] + 1) % 2 == 1]
        quotes = np.setdiff1d(quotes, escaped, assume_unique=True)
    brackets = np.flatnonzero((data == 0x5B) | (data == 0x5D) | (data == 0x7B) | (data == 0x7D))
    if len(quotes):
        brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]
    kinds = data[brackets]
    steps = np.where((kinds == 0x5B) | (kinds == 0x7B), 1, -1)
    deepest = int(np.cumsum(steps).max()) if len(steps) else 0
    return deepest if deepest > max_depth else None


def check_batch(batch: pa.RecordBatch, limits: Limits, source: str, first_row: int) -> None:
    """Every string value within `max_cell_bytes`, none holding a NUL byte; else an error
    naming the source, the column and the row (1-based in the run, or the file and row of a
    file drop) but never the value."""
    cap = limits.max_cell_bytes
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        data = column.buffers()[2]
        if data is None or not len(column):
            continue
        lengths = pc.binary_length(column)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > cap:
            at = int(np.argmax(lengths.to_numpy(zero_copy_only=False) > cap))
            raise LimitExceeded(f"{source}: column {name!r} at {_row(batch, at, first_row)} "
                                f"holds {size(longest)}, more than source.limits.max_cell_bytes "
                                f"({size(cap)})")
        wide = np.int64 if pa.types.is_large_string(column.type) else np.int32
        offsets = np.frombuffer(column.buffers()[1], dtype=wide)[column.offset:][: len(column) + 1]
        raw = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]]
        if not raw.all():  # a zero byte among the values' bytes: which value?
            hits = pc.match_substring(column, "\x00")
            if pc.any(hits).as_py():
                at = int(np.argmax(hits.to_numpy(zero_copy_only=False)))
                raise ConnectorError(f"{source}: column {name!r} at {_row(batch, at, first_row)} "
                                     "holds a NUL byte (\\u0000), which is not text; the source "
                                     "must remove it")


def source_name(spec: Any, described: dict[str, Any]) -> str:
    """`<dataset> (<url | table | folder>)` for messages, from a connector's describe()."""
    where = described.get("url") or described.get("folder") or (
        f"{described.get('dsn')} table {described.get('table')}" if described.get("table") else "")
    return f"{spec.id} ({where})" if where else spec.id


def _row(batch: pa.RecordBatch, index: int, first_row: int) -> str:
    names = batch.schema.names
    if "_source_file" in names and "_source_row" in names:
        file = batch.column(names.index("_source_file"))[index].as_py()
        row = batch.column(names.index("_source_row"))[index].as_py()
        return f"file {file} row {row}"
    return f"record {first_row + index + 1} of the run"
