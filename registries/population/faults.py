"""Fault injection for resilience tests: what the next requests to /api/v1/* suffer.

Faults are queued in the order given and consumed one request at a time; a fault applies to
the next `count` requests, then the next fault in the queue takes over.

- {"kind": "status", "status": 500, "count": 3}: answer with that status.
- {"kind": "retry_after", "status": 429, "retry_after": 1, "count": 2}: answer with that
  status and a Retry-After header (seconds).
- {"kind": "delay", "seconds": 3, "count": 1}: wait, then answer normally.
- {"kind": "fail_after_pages", "pages": 2, "status": 500, "count": 1000}: let `pages`
  requests through, then answer with that status `count` times.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("status", "retry_after", "delay", "fail_after_pages")
MAX_DELAY_SECONDS = 600.0


class FaultSpecError(ValueError):
    """A fault description that cannot be used."""


@dataclass
class Fault:
    kind: str
    count: int = 1
    status: int = 500
    retry_after: int = 1
    seconds: float = 0.0
    pages: int = 0


@dataclass(frozen=True)
class Action:
    """What to do to one request: sleep `delay` seconds first, then (if status is set) answer
    with that status and headers instead of the real response."""

    kind: str
    delay: float = 0.0
    status: int | None = None
    headers: dict[str, str] | None = None


def parse_fault(spec: Any) -> Fault:
    """A Fault from its JSON form (raises FaultSpecError naming the bad field)."""
    if not isinstance(spec, dict):
        raise FaultSpecError(f"a fault is a JSON object, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown = set(spec) - {"kind", "count", "status", "retry_after", "seconds", "pages"}
    if unknown:
        raise FaultSpecError(f"unknown fields {sorted(unknown)} in fault {spec!r}")
    default_status = 429 if kind == "retry_after" else 500
    fault = Fault(
        kind=kind,
        count=_int(spec, "count", 1, 1),
        status=_int(spec, "status", default_status, 100),
        retry_after=_int(spec, "retry_after", 1, 0),
        pages=_int(spec, "pages", 0, 0),
    )
    if fault.status > 599:
        raise FaultSpecError(f"status must be an HTTP status (100-599), got {fault.status}")
    seconds = spec.get("seconds", 0.0)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not (0 <= seconds <= MAX_DELAY_SECONDS)
    ):
        raise FaultSpecError(f"seconds must be a number 0-{MAX_DELAY_SECONDS:.0f}, got {seconds!r}")
    fault.seconds = float(seconds)
    return fault


def _int(spec: dict[str, Any], name: str, default: int, low: int) -> int:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise FaultSpecError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


class FaultQueue:
    """The pending faults; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.served = 0

    def add(self, specs: Any) -> list[dict[str, Any]]:
        """Queue one fault (a JSON object) or several (a list); all or none are queued."""
        faults = [parse_fault(s) for s in (specs if isinstance(specs, list) else [specs])]
        with self._lock:
            self._faults.extend(faults)
            return self.pending()

    def clear(self) -> int:
        with self._lock:
            cleared, self._faults = len(self._faults), []
            return cleared

    def pending(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self._faults]

    def next_action(self) -> Action | None:
        """Consume the fault for one request; None lets the request through untouched."""
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.kind == "fail_after_pages" and fault.pages > 0:
                fault.pages -= 1
                return None
            fault.count -= 1
            if fault.count <= 0:
                self._faults.pop(0)
            self.served += 1
        if fault.kind == "delay":
            return Action(kind="delay", delay=fault.seconds)
        if fault.kind == "retry_after":
            return Action(
                kind="retry_after", status=fault.status, headers={"Retry-After": str(fault.retry_after)}
            )
        return Action(kind=fault.kind, status=fault.status)
