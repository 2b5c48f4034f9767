"""REST/JSON transport: bearer auth, cursor or page paging, timeouts, retries, incremental.

Registered as `rest`. Each page is parsed with orjson and turned into one Arrow batch, so
memory holds one page at a time. Transient failures (network errors, timeouts, 5xx, 429)
are retried with exponential backoff within a budget of attempts and seconds; a 429's
Retry-After is honoured when it fits the budget. Anything else fails at once with the URL,
the status and what the server said.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import requests
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
from connectors.prefetch import prefetched
from connectors.registry import register
from connectors.state import DatasetState

log = logging.getLogger(__name__)


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
        self.session = requests.Session()
        if token:
            self.session.auth = BearerAuth(str(token))
        self.paginator = CursorPaginator(
            param=str(params.get("cursor_param", "cursor")),
            next_field=str(params.get("next_cursor_field", "next_cursor")),
        )
        self.pages = 0
        self.attempts = 0
        self.retries: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {"connector": "rest", "url": self.url, "page_size": self.page_size}

    def _get_once(self, params: dict[str, Any]) -> dict[str, Any]:
        self.attempts += 1
        try:
            resp = self.session.get(self.url, params=params, timeout=self.timeout)
        except requests.Timeout as exc:
            raise TransientHTTPError(f"GET {self.url}: timed out ({type(exc).__name__})") from exc
        except requests.ConnectionError as exc:
            raise TransientHTTPError(f"GET {self.url}: connection failed ({exc})") from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            retry_after = resp.headers.get("Retry-After")
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise TransientHTTPError(
                f"GET {resp.url}: HTTP {resp.status_code} {resp.text[:200]!r}", retry_after=wait
            )
        if resp.status_code != 200:
            raise ConnectorError(
                f"GET {resp.url}: HTTP {resp.status_code} (not retried): {resp.text[:300]}"
            )
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise ConnectorError(f"GET {resp.url}: response is not valid JSON: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get(self.data_field), list):
            raise ConnectorError(
                f"GET {resp.url}: expected an object with a {self.data_field!r} list"
            )
        return body

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        message = f"attempt {state.attempt_number} failed: {exc}; retrying in {wait:.1f}s"
        self.retries.append(message)
        log.warning(message)

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        policy = self.retry
        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.budget_seconds),
            wait=_WaitRetryAfterOrBackoff(policy),
            retry=retry_if_exception_type(TransientHTTPError),
            before_sleep=self._log_retry,
            reraise=False,
        )
        started = time.monotonic()
        try:
            return retrying(self._get_once, params)
        except RetryError as err:
            last = err.last_attempt.exception()
            raise RetryBudgetExhausted(
                f"{self.spec.id}: gave up after {err.last_attempt.attempt_number} attempts in "
                f"{time.monotonic() - started:.1f}s (budget: {policy.max_attempts} attempts, "
                f"{policy.budget_seconds:.0f}s); last error: {last}"
            ) from None

    def pending_state(self) -> dict[str, Any]:
        return {}

    def extract(self, window: Window, state: DatasetState) -> Iterator[pa.RecordBatch]:
        params: dict[str, Any] = {"page_size": self.page_size}
        if self.since_param and window.since is not None:
            params[self.since_param] = _iso(window.since)
        if self.until_param:
            params[self.until_param] = _iso(window.until)
        expected = self.spec.column_names

        def pages(stop: threading.Event) -> Iterator[list[dict[str, Any]]]:
            next_params: dict[str, Any] | None = params
            while next_params is not None and not stop.is_set():
                body = self._get(next_params)
                self.pages += 1
                yield body[self.data_field]
                next_params = self.paginator.get_next(body, next_params)

        # The registry prepares the next page while this one becomes an Arrow batch.
        for records in prefetched(pages, depth=2, name=f"rest-pages-{self.spec.id}"):
            if records:
                yield records_to_batch(records, expected, self.drift)


def _iso(value: Any) -> str:
    text = value.isoformat()
    return text.replace("+00:00", "Z")


@register("rest")
def build_rest(spec: DatasetSpec, params: dict[str, Any]) -> RestConnector:
    return RestConnector(spec, params)
