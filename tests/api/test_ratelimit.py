"""The per-client token bucket, driven with explicit times (no clock in the test)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from api import ratelimit


@settings(max_examples=200, deadline=None)
@given(rate=st.integers(1, 600), workers=st.integers(1, 4),
       gaps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=60))
def test_never_more_than_the_rate(rate: int, workers: int, gaps: list[float]) -> None:
    import os

    os.environ["LGSP_SERVE_WORKERS"] = str(workers)
    ratelimit._buckets.clear()
    t, allowed, times = 1000.0, 0, []
    for gap in gaps:
        t += gap
        wait = ratelimit.take("c", rate, now=t)
        if wait is None:
            allowed += 1
            times.append(t)
        else:
            assert wait >= 1
    capacity = max(1.0, rate / workers)
    # a bucket never allows more than its burst plus what refilled since the first request
    assert allowed <= capacity + (t - 1000.0) * capacity / 60.0 + 1e-9
    os.environ.pop("LGSP_SERVE_WORKERS")


def test_retry_after_then_allowed() -> None:
    ratelimit._buckets.clear()
    assert ratelimit.take("x", 2, now=0.0) is None
    assert ratelimit.take("x", 2, now=0.0) is None
    wait = ratelimit.take("x", 2, now=0.0)
    assert wait == 30
    assert ratelimit.take("x", 2, now=float(wait)) is None
