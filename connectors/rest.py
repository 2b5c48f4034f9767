"""REST/JSON transport: bearer auth, cursor or page paging, timeouts, retries, incremental.

Registered as `rest`. Each page becomes one Arrow batch, so memory holds a few pages at a
time. Arrow's JSON reader parses a page straight into string columns (no Python object per
value); a page it cannot take exactly as delivered (a number or an object where text is
declared, an extra field, a field absent from every record, an invalid escape, a key named
twice) is parsed record by record instead, every number kept as written (`exact_json`:
99999999999999999999 is not 1e+20) and keys named twice reported as drift. A read-ahead
thread fetches the next pages while two threads parse them and the current one is written.

The spec's `source.limits` bound each page (bytes on the wire and decoded, nesting depth
checked on the bytes before any parser runs, records per page), each request (a deadline
for the whole body) and the run (pages, deadline; a cursor seen twice is a loop).

Transient failures (network errors, timeouts, 5xx, 429) are retried with exponential backoff
within a budget of attempts and seconds; a 429's Retry-After is honoured when it fits the
budget. Anything else fails at once with the URL, the status and what the server said.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import orjson
import pyarrow as pa
import pyarrow.json as pa_json
import requests
import urllib3.exceptions
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from catalog.spec import DatasetSpec
from connectors.base import (
    ConnectorError,
    RetryBudgetExhausted,
    SchemaDrift,
    Window,
    records_to_batch,
)
from connectors.limits import (
    Deadline,
    LimitExceeded,
    deadline_session,
    headers_within,
    json_too_deep,
    read_body,
    request_deadline,
)
from connectors.prefetch import prefetched
from connectors.registry import register
from connectors.state import DatasetState

log = logging.getLogger(__name__)
T = TypeVar("T")


class TransientHTTPError(Exception):
    """A failure worth retrying; carries the server's Retry-After when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class CursorPaginator:
    """Follows an opaque cursor the server returns in `next_field` (null = last page)."""

    def __init__(self, param: str = "cursor", next_field: str = "next_cursor") -> None:
        self.param, self.next_field = param, next_field

    def get_next(self, body: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        cursor = body.get(self.next_field)
        return {**params, self.param: cursor} if cursor else None


class PageNumberPaginator:
    """page=1,2,... until a page comes back shorter than page_size."""

    def __init__(self, param: str = "page", size_param: str = "page_size") -> None:
        self.param, self.size_param = param, size_param

    def start(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, self.param: 1}

    def get_next(self, body: dict[str, Any], params: dict[str, Any],
                 returned: int = 0) -> dict[str, Any] | None:
        if returned < int(params[self.size_param]):
            return None
        return {**params, self.param: int(params[self.param]) + 1}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    budget_seconds: float = 120.0
    backoff_initial: float = 0.5
    backoff_max: float = 20.0
    max_retry_after: float = 60.0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RetryPolicy:
        fields = cls.__dataclass_fields__
        return cls(**{k: type(getattr(cls, k))(v) for k, v in params.items() if k in fields})

    def call(self, fn: Callable[..., T], *args: Any, source: str, retries: list[str],
             logger: logging.Logger = log) -> T:
        """`fn(*args)`, retried on TransientHTTPError within this policy's budget; each retry
        is appended to `retries` and logged. Raises RetryBudgetExhausted naming `source`."""

        def note(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0
            message = f"attempt {state.attempt_number} failed: {exc}; retrying in {wait:.1f}s"
            retries.append(message)
            logger.warning(message)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.budget_seconds),
            wait=_WaitRetryAfterOrBackoff(self),
            retry=retry_if_exception_type(TransientHTTPError),
            before_sleep=note,
            reraise=False,
        )
        started = time.monotonic()
        try:
            return retrying(fn, *args)
        except RetryError as err:
            last = err.last_attempt.exception()
            raise RetryBudgetExhausted(
                f"{source}: gave up after {err.last_attempt.attempt_number} attempts in "
                f"{time.monotonic() - started:.1f}s (budget: {self.max_attempts} attempts, "
                f"{self.budget_seconds:.0f}s); last error: {last}"
            ) from None


class _WaitRetryAfterOrBackoff:
    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.backoff = wait_exponential(multiplier=policy.backoff_initial, max=policy.backoff_max)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientHTTPError) and exc.retry_after is not None:
            if exc.retry_after > self.policy.max_retry_after:
                raise RetryBudgetExhausted(
                    f"{exc}: server asked to wait {exc.retry_after:.0f}s, more than the "
                    f"{self.policy.max_retry_after:.0f}s this source allows"
                )
            return exc.retry_after
        return float(self.backoff(state))


DECODERS = 2
"""Pages parsed at once (and one more fetched ahead): the JSON parse is the connector's
largest cost, and it runs outside the GIL."""


@dataclass(frozen=True)
class _Response:
    url: str
    content: bytes


_Decoded = tuple[pa.RecordBatch | None, dict[str, Any]]
"""A parsed page: its records (None when it has none) and the body without them."""


class RestConnector:
    def __init__(self, spec: DatasetSpec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.drift = SchemaDrift()
        self.base_url = str(params["base_url"]).rstrip("/")
        self.path = str(params.get("path", ""))
        self.url = self.base_url + self.path
        self.page_size = int(params.get("page_size", 1000))
        self.data_field = str(params.get("data_field", "data"))
        self.since_param = params.get("updated_since_param")
        self.until_param = params.get("updated_until_param")
        self.timeout = (float(params.get("connect_timeout", 5)),
                        float(params.get("read_timeout", 30)))
        self.retry = RetryPolicy.from_params(params.get("retry", {}))
        token = os.environ.get(str(params.get("token_env", "")), params.get("token_default"))
        self.limits = spec.source.limits
        self.run_deadline: Deadline | None = None
        self.session = deadline_session()
        if token:
            self.session.auth = BearerAuth(str(token))
        self.paginator = CursorPaginator(
            param=str(params.get("cursor_param", "cursor")),
            next_field=str(params.get("next_cursor_field", "next_cursor")),
        )
        text = pa.string()
        self._page_schema = pa.schema([
            (self.data_field, pa.list_(pa.struct([(c, text) for c in spec.column_names]))),
            (self.paginator.next_field, text),
        ])
        self.pages = 0
        self.attempts = 0
        self.retries: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {"connector": "rest", "url": self.url, "page_size": self.page_size}

    def _get_once(self, params: dict[str, Any]) -> _Response:
        self.attempts += 1
        deadline = request_deadline(self.limits, self.run_deadline)
        where = f"{self.spec.id}: GET {self.url}"
        try:
            # stream=True: the body is read by read_body, within the spec's byte limits and
            # the request's deadline (a read timeout alone restarts with every byte).
            with headers_within(deadline):
                resp = self.session.get(self.url, params=params, stream=True, timeout=(
                    self.timeout[0], max(0.1, min(self.timeout[1], deadline.remaining()))))
            where = f"{self.spec.id}: GET {resp.url}"
            content = read_body(resp, self.limits, where, deadline)
        except LimitExceeded:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            if deadline.remaining() <= 0:
                raise LimitExceeded(f"{where}: no complete answer within {deadline.seconds:g} s "
                                    f"({deadline.what})") from None
            self._transient(where, exc)
        text = content[:300].decode("utf-8", "replace")
        if resp.status_code == 429 or resp.status_code >= 500:
            retry_after = resp.headers.get("Retry-After")
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise TransientHTTPError(f"{where}: HTTP {resp.status_code} {text[:200]!r}",
                                     retry_after=wait)
        if resp.status_code != 200:
            raise ConnectorError(f"{where}: HTTP {resp.status_code} (not retried): {text}")
        return _Response(str(resp.url), content)

    @staticmethod
    def _transient(where: str, exc: Exception) -> NoReturn:
        """A network failure as the retryable error naming the URL (anything else as is)."""
        if isinstance(exc, requests.Timeout):
            raise TransientHTTPError(f"{where}: timed out ({type(exc).__name__})") from exc
        if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError
                      | urllib3.exceptions.HTTPError):
            raise TransientHTTPError(f"{where}: connection failed ({exc})") from exc
        raise exc

    def _decode(self, response: _Response) -> _Decoded:
        """A page as (batch of its records or None when empty, the body without the records
        for the paginator). A page nested deeper than the spec allows is refused before any
        parser sees it (Arrow's C++ reader recurses, and crashes the process on ~17,000
        levels); one with more records than asked for (with the spec's margin) after."""
        where = f"{self.spec.id}: GET {response.url}"
        depth = json_too_deep(response.content, self.limits.max_depth)
        if depth is not None:
            raise LimitExceeded(f"{where}: the page nests at least {depth} levels deep, more "
                                f"than source.limits.max_depth ({self.limits.max_depth}); "
                                "not parsed")
        fast = self._decode_arrow(response.content)
        if fast is not None:
            self._check_count(where, fast[0].num_rows if fast[0] is not None else 0)
            return fast
        try:
            if _SURROGATE_ESCAPE.search(response.content):
                orjson.loads(response.content)  # strict: a lone surrogate is not text
            body = exact_json(response.content)
        except ValueError as exc:
            raise ConnectorError(f"{where}: response is not valid JSON: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get(self.data_field), list):
            raise ConnectorError(f"{where}: expected an object with a {self.data_field!r} list")
        records = body.pop(self.data_field)
        if records and not all(isinstance(r, dict) for r in records):
            raise ConnectorError(f"{where}: every item of {self.data_field!r} must be an object")
        self._check_count(where, len(records))
        repeated = sorted({k for r in records for k in getattr(r, "repeated", ())})
        if repeated:
            self.drift.note_repeated(repeated)
            log.warning("%s: records name a field twice (the last value is kept): %s", where,
                        repeated)
        records = [{k: _as_delivered(v) for k, v in r.items()} for r in records]
        return (records_to_batch(records, self.spec.column_names, self.drift)
                if records else None), {k: orjson.loads(str(v)) if isinstance(v, Number) else v
                                        for k, v in body.items()}

    def _check_count(self, where: str, records: int) -> None:
        most = int(self.page_size * self.limits.page_size_margin)
        if records > most:
            raise LimitExceeded(f"{where}: the page holds {records:,} records, more than the "
                                f"{self.page_size:,} asked for x source.limits.page_size_margin "
                                f"({self.limits.page_size_margin:g}) = {most:,}")

    def _decode_arrow(self, content: bytes) -> _Decoded | None:
        """The page through Arrow's JSON reader, or None when only orjson can say exactly
        what the page holds (then nothing here has noted drift)."""
        try:
            table = pa_json.read_json(
                io.BytesIO(content),
                read_options=pa_json.ReadOptions(use_threads=False, block_size=len(content) + 64),
                parse_options=pa_json.ParseOptions(explicit_schema=self._page_schema,
                                                   unexpected_field_behavior="infer"),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return None  # a value that is not text where text is declared, bad JSON, ...
        if table.num_rows != 1:
            return None
        data = table.column(self.data_field)
        if data.null_count or data.type != self._page_schema.field(self.data_field).type:
            return None  # no list, or records with fields beyond the declared columns
        records = data.chunk(0).flatten() if data.num_chunks == 1 else None
        if records is None or records.null_count:
            return None
        expected = self.spec.column_names
        for name, column in zip(expected, records.flatten(), strict=True):
            if column.null_count == len(column) and orjson.dumps(name) + b":" not in content:
                return None  # maybe absent from every record: orjson tells drift exactly
        # Every declared field was seen and no other: nothing for self.drift to note.
        envelope = table.drop_columns([self.data_field]).to_pylist()[0]
        if not len(records):
            return None, envelope
        return pa.RecordBatch.from_struct_array(records), envelope

    def _get(self, params: dict[str, Any]) -> _Response:
        return self.retry.call(self._get_once, params, source=self.spec.id, retries=self.retries)

    def pending_state(self) -> dict[str, Any]:
        return {}

    def extract(self, window: Window, state: DatasetState) -> Iterator[pa.RecordBatch]:
        self.run_deadline = Deadline(self.limits.run_seconds, "source.limits.run_seconds")
        cursors: set[str] = set()
        params: dict[str, Any] = {"page_size": self.page_size}
        if self.since_param and window.since is not None:
            params[self.since_param] = _iso(window.since)
        if self.until_param:
            params[self.until_param] = _iso(window.until)

        def pages(stop: threading.Event) -> Iterator[pa.RecordBatch | None]:
            # Pages are fetched ahead with the cursor read off each page's bytes and parsed
            # by DECODERS threads at once (Arrow's JSON reader releases the GIL); they are
            # yielded in order. Each parsed body must confirm the cursor that was guessed
            # from its bytes, else the pages fetched after it are dropped and fetching
            # resumes from the confirmed cursor.
            inflight: deque[tuple[dict[str, Any], Future[_Decoded], dict[str, Any] | None]]
            inflight = deque()
            with ThreadPoolExecutor(DECODERS,
                                    thread_name_prefix=f"rest-decode-{self.spec.id}") as pool:
                upcoming: dict[str, Any] | None = params
                while True:
                    while upcoming is not None and len(inflight) < DECODERS + 1:
                        if stop.is_set():
                            return
                        try:
                            response = self._get(upcoming)
                        except ConnectorError as exc:
                            # Raised when this page is needed: a guessed cursor may be
                            # dropped before then (and a registry may refuse it).
                            failed: Future[_Decoded] = Future()
                            failed.set_exception(exc)
                            inflight.append((upcoming, failed, None))
                            upcoming = None
                            break
                        guess = self._guess_next(response.content, upcoming)
                        inflight.append((upcoming, pool.submit(self._decode, response), guess))
                        upcoming = guess
                    if not inflight:
                        return
                    page_params, decoded, guess = inflight.popleft()
                    batch, body = decoded.result()
                    self.pages += 1
                    yield batch
                    confirmed = self.paginator.get_next(body, page_params)
                    if confirmed is None or stop.is_set():
                        return
                    self._check_progress(confirmed, cursors)
                    if confirmed != guess:
                        for _, later, _ in inflight:
                            later.cancel()
                        inflight.clear()
                        upcoming = confirmed

        # The consumer writes page N-1 while this thread fetches and parses the next ones.
        for batch in prefetched(pages, depth=2, name=f"rest-pages-{self.spec.id}"):
            if batch is not None:
                yield batch

    def _check_progress(self, following: dict[str, Any], cursors: set[str]) -> None:
        """Before the next page: a cursor seen before is a loop (A -> B -> A), and the run's
        page count and deadline are bounded."""
        where = f"{self.spec.id}: GET {self.url}"
        cursor = str(following.get(self.paginator.param))
        if cursor in cursors:
            shown = cursor if len(cursor) <= 80 else cursor[:77] + "..."
            raise ConnectorError(f"{where}: the server sent the cursor {shown!r} again after "
                                 f"{self.pages} pages: a paging loop; nothing is published")
        cursors.add(cursor)
        if self.pages >= self.limits.max_pages:
            raise LimitExceeded(f"{where}: more than source.limits.max_pages "
                                f"({self.limits.max_pages:,}) pages in one run")
        assert self.run_deadline is not None
        self.run_deadline.check(f"{where}: the extract")

    def _guess_next(self, content: bytes, params: dict[str, Any]) -> dict[str, Any] | None:
        """The next page's parameters from the last `"<next_field>": value` in the bytes,
        before the page is parsed (None when not found: then nothing is fetched ahead)."""
        key = orjson.dumps(self.paginator.next_field)
        at = content.rfind(key)
        match = _JSON_SCALAR.match(content, at + len(key)) if at >= 0 else None
        if match is None:
            return None
        try:
            cursor = orjson.loads(match.group(1))
        except orjson.JSONDecodeError:
            return None
        return self.paginator.get_next({self.paginator.next_field: cursor}, params)


class Number(str):
    """A JSON number exactly as written (`99999999999999999999`, `1e5`, `-0`)."""


class _Object(dict):  # type: ignore[type-arg]
    repeated: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.repeated = tuple(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def exact_json(content: bytes) -> Any:
    """JSON with every number kept as its text (`Number`) and objects that name a key twice
    marked (`.repeated`), for the pages Arrow's reader does not take. orjson would turn
    99999999999999999999 into 1e+20 and keep the last of two equal keys silently."""
    return json.loads(content, parse_int=Number, parse_float=Number,
                      parse_constant=_no_constant, object_pairs_hook=_pairs)


def _as_delivered(value: Any) -> Any:
    """A record value as text as delivered: numbers as written, objects and arrays as
    compact JSON text with their numbers as written; strings, booleans and null as they are."""
    if isinstance(value, Number):
        return str(value)
    if isinstance(value, dict | list):
        return _json_text(value)
    return value


def _json_text(value: Any) -> str:
    if isinstance(value, Number):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_text(k)}:{_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    return orjson.dumps(value).decode()


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""An escaped UTF-16 surrogate (paired or not): orjson checks those pages strictly."""

_JSON_SCALAR = re.compile(rb'\s*:\s*("(?:[^"\\]|\\.)*"|null|-?[0-9]+)')
"""`: value` after a key: a JSON string, null or an integer."""


def _iso(value: Any) -> str:
    text = value.isoformat()
    return text.replace("+00:00", "Z")


@register("rest", required=("base_url",), params={
    "base_url": "text", "path": "text", "page_size": "int", "data_field": "text",
    "updated_since_param": "text", "updated_until_param": "text", "connect_timeout": "number",
    "read_timeout": "number", "retry": "mapping", "token_env": "text", "token_default": "text",
    "cursor_param": "text", "next_cursor_field": "text"})
def build_rest(spec: DatasetSpec, params: dict[str, Any]) -> RestConnector:
    return RestConnector(spec, params)
