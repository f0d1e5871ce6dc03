"""Retry spacing: exponential, capped, jittered; giving up by age."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from trackingbms_notify.delivery import RetryPolicy


def test_delays_grow_then_stay_under_the_cap() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=30.0, multiplier=2.0)
    rng = random.Random(1)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (50, 30.0), (10_000, 30.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 10  # jittered, not a constant


@given(
    st.floats(0.01, 100),
    st.floats(0.01, 1000),
    st.floats(1, 10),
    st.integers(1, 100_000),
)
def test_delay_bounds(initial: float, cap: float, multiplier: float, attempt: int) -> None:
    delay = RetryPolicy(initial, cap, multiplier).delay(attempt, random.Random(attempt))
    uncapped = initial * multiplier ** min(attempt - 1, 64)
    assert 0 < delay <= cap and delay <= uncapped * (1 + 1e-9)
    assert delay >= min(cap, uncapped) / 2 * (1 - 1e-9)


def test_give_up_after() -> None:
    queued = datetime(2026, 5, 1, tzinfo=UTC)
    assert not RetryPolicy().expired(queued, queued + timedelta(days=365))
    policy = RetryPolicy(give_up_after=60)
    assert not policy.expired(queued, queued + timedelta(seconds=60))
    assert policy.expired(queued, queued + timedelta(seconds=61))
