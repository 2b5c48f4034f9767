"""A window that loses no change: how far back a run re-reads (`lag`), how far forward it may
safely read (never past a point where a change can still appear), and the one rule for
timestamps stored without a zone (`timezone`).

Spec parameters (`source.params`, any connector):
  lag       a lookback re-read every run: "90s", "10m", "2h", "1d" or a number of seconds.
            Each run reads (watermark - lag, until]; rows already published come again and
            publish keeps one copy per key and version (same `order_by`: the newer run's
            identical copy replaces it), so a re-read costs neither a duplicate nor a
            quarantine row of its own. Covers a source whose clock runs behind ours (an
            application writing its own time), a deletion-log row written late with the real
            deletion time, and any commit later than the read by less than `lag`.
  timezone  the zone of timestamps stored without one (PostgreSQL `timestamp`, MariaDB
            `DATETIME`): an IANA name ("Asia/Ho_Chi_Minh") or an offset ("+07:00"); default
            UTC. Zone-aware columns (`timestamptz`, MariaDB `TIMESTAMP`) are instants already.
            Windows are compared in the column's own terms and values leave as instants (UTC).
            `naive_timezone` (an offset) is the older name of the same setting.

The safe upper bound, per source, is the minimum of the run's `until`, the source's clock, and
the start of the oldest transaction still running when the read starts (a transaction that
may still commit rows stamped at or after its start), then cut to the change column's
precision minus one microsecond (a second-precision column stores a change made 0.19 s after
`until` at the whole second before it: that second is read next run, not this one).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_LAG = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_lag(value: Any, where: str = "source.params.lag") -> timedelta:
    """`lag` as a duration; a clear error naming the parameter for anything else."""
    if value is None or value == "":
        return timedelta(0)
    if isinstance(value, bool):
        raise ValueError(f"{where}: {value!r} is not a duration (e.g. 30s, 10m, 2h)")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _LAG.match(str(value))
        if not match:
            raise ValueError(f"{where}: {value!r} is not a duration (e.g. 30s, 10m, 2h)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"{where}: {value!r} is negative")
    return timedelta(seconds=seconds)


def source_lag(params: dict[str, Any], dataset: str = "") -> timedelta:
    return parse_lag(params.get("lag"), f"{dataset}: source.params.lag" if dataset else "source.params.lag")


def lagged_since(watermark: datetime | None, lag: timedelta) -> datetime | None:
    """The lower bound of a run's window: the watermark, `lag` earlier."""
    return None if watermark is None else watermark - lag


def parse_zone(value: Any, where: str = "source.params.timezone") -> tzinfo:
    """An IANA zone name or a fixed offset (+07:00); UTC when unset."""
    if value is None or value == "" or str(value).upper() in ("UTC", "Z", "+00:00"):
        return UTC
    text = str(value).strip()
    match = _OFFSET.match(text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{where}: {text!r} is not a time zone (an IANA name such as "
                         "Asia/Ho_Chi_Minh, or an offset such as +07:00)") from exc


def source_zone(params: dict[str, Any], dataset: str = "") -> tzinfo:
    prefix = f"{dataset}: " if dataset else ""
    if params.get("timezone") not in (None, ""):
        return parse_zone(params["timezone"], f"{prefix}source.params.timezone")
    return parse_zone(params.get("naive_timezone"), f"{prefix}source.params.naive_timezone")


def zone_sql_name(zone: tzinfo) -> str:
    """The zone as PostgreSQL's AT TIME ZONE takes it (a POSIX offset has its sign reversed,
    so a fixed offset is written as an ISO interval)."""
    if zone is UTC:
        return "UTC"
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = zone.utcoffset(None) or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_is_offset(zone: tzinfo) -> bool:
    return not isinstance(zone, ZoneInfo) and zone is not UTC


def cut_to_precision(until: datetime, digits: int | None) -> datetime:
    """The last instant a column of `digits` fractional-second digits can hold that no later
    commit can still be stamped with: the start of `until`'s unit, less a microsecond."""
    if digits is None or digits >= 6:
        return until
    unit = 10 ** (6 - max(digits, 0))
    floored = until.replace(microsecond=until.microsecond - until.microsecond % unit)
    return floored - timedelta(microseconds=1)


def safe_until(until: datetime, source_now: datetime | None, oldest_running: datetime | None,
               digits: int | None) -> datetime:
    """min(until, source clock, oldest running transaction's start), cut to the precision."""
    bound = until
    for limit in (source_now, oldest_running):
        if limit is not None:
            limit = limit if limit.tzinfo else limit.replace(tzinfo=UTC)
            bound = min(bound, limit)
    return cut_to_precision(bound, digits)


def as_instant(value: datetime, zone: tzinfo) -> datetime:
    """A datetime from the source as an instant in UTC (naive values are in `zone`)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def local_naive(instant: datetime, zone: tzinfo) -> datetime:
    """An instant as the wall-clock time of `zone`, without a zone (for a naive column)."""
    return instant.astimezone(zone).replace(tzinfo=None)
