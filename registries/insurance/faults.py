"""Injected failures of the simulated insurance service (armed through /admin/faults).

Each fault applies to the next `count` GetMembers calls once `after_pages` pages have been
served since the faults were armed:
- status:   answer HTTP `status` with an HTML error page (a proxy in front of the service);
            `retry_after` adds a Retry-After header.
- fault:    answer a SOAP Fault (`code`, e.g. soap:Server or soap:Client, and `string`).
- delay:    hang `seconds` before answering normally (the client's read timeout fires).
- drop:     start the answer, then drop the connection halfway through the body.
- truncate: answer HTTP 200 with the XML cut short (a partial page).
- corrupt:  answer HTTP 200 with bytes that are not UTF-8 inside a member (corrupt page).
- die:      the service process exits at once (the source goes away; later calls are
            refused until it is started again).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

KINDS = ("status", "fault", "delay", "drop", "truncate", "corrupt", "die")


@dataclass
class Fault:
    kind: str
    count: int = 1
    after_pages: int = 0
    status: int = 500
    retry_after: int | None = None
    code: str = "soap:Server"
    string: str = "Hệ thống đang bận, vui lòng thử lại sau (service busy)"
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"fault {data}: unknown keys {unknown}; known: {sorted(known)}")
        fault = cls(**data)
        if fault.kind not in KINDS:
            raise ValueError(f"fault {data}: kind must be one of {', '.join(KINDS)}")
        if fault.count < 0 or fault.after_pages < 0:
            raise ValueError(f"fault {data}: count and after_pages must be >= 0")
        return fault


class FaultQueue:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.pages_served = 0

    def arm(self, faults: list[dict[str, Any]]) -> None:
        """Replace the armed faults; `after_pages` counts from now."""
        parsed = [Fault.from_dict(f) for f in faults]
        self.faults = parsed
        self.pages_served = 0

    def clear(self) -> None:
        self.faults = []
        self.pages_served = 0

    def next(self) -> Fault | None:
        """The fault that applies to this call (and uses it up), if any."""
        for fault in self.faults:
            if fault.count > 0 and self.pages_served >= fault.after_pages:
                fault.count -= 1
                return fault
        return None

    def page_served(self) -> None:
        self.pages_served += 1

    def as_list(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.faults if f.count > 0]
