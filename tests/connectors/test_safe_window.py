"""The safe-window rules: `lag` parsing, the zone rule for naive timestamps, and the cut of
`until` to a column's precision (properties, checked against datetime arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.safe_window import (
    as_instant,
    cut_to_precision,
    local_naive,
    parse_lag,
    parse_zone,
    safe_until,
)

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))


@given(st.integers(0, 10**6), st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400),
                                               ("", 1)]))
def test_lag_units(n, unit):
    suffix, seconds = unit
    assert parse_lag(f"{n}{suffix}") == timedelta(seconds=n * seconds)


@pytest.mark.parametrize("bad", ["soon", "-5s", "5 weeks", True, "1.2.3s"])
def test_lag_rejects_what_is_not_a_duration_naming_the_parameter(bad):
    with pytest.raises(ValueError, match="source.params.lag"):
        parse_lag(bad)


@given(instants, st.integers(0, 6))
def test_cut_is_below_every_stamp_a_later_commit_can_get(until, digits):
    cut = cut_to_precision(until, digits)
    assert cut <= until
    # A column of `digits` digits stores a time t >= until as t truncated: never <= cut.
    unit = 10 ** (6 - digits)
    later = until + timedelta(microseconds=1)
    stored = later - timedelta(microseconds=later.microsecond % unit)
    assert stored > cut
    assert until - cut <= timedelta(microseconds=unit)


@given(instants, st.one_of(st.none(), instants), st.one_of(st.none(), instants))
def test_safe_until_never_passes_the_clock_or_a_running_transaction(until, now, oldest):
    bound = safe_until(until, now, oldest, 6)
    assert bound <= until
    assert now is None or bound <= now
    assert oldest is None or bound <= oldest


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
       st.sampled_from(["Asia/Ho_Chi_Minh", "+07:00", "-03:30", "UTC", "Europe/Paris"]))
def test_naive_local_time_round_trips_through_its_instant(naive, zone_name):
    zone = parse_zone(zone_name)
    instant = as_instant(naive, zone)
    assert instant.tzinfo is UTC
    if zone_name in ("Asia/Ho_Chi_Minh", "+07:00"):
        assert instant == naive.replace(tzinfo=UTC) - timedelta(hours=7)
    if zone_name != "Europe/Paris":  # no gaps or folds in these zones
        assert local_naive(instant, zone) == naive


def test_unknown_zone_is_a_clear_error():
    with pytest.raises(ValueError, match="timezone: 'Mars/Olympus' is not a time zone"):
        parse_zone("Mars/Olympus")
