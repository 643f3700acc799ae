"""Token buckets: a burst up to the rate, then 429 with an honest Retry-After."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.limits import RateLimiter


def test_a_burst_up_to_the_rate_passes_then_429() -> None:
    limiter = RateLimiter(3, "wallet")
    for _ in range(3):
        limiter.take("w", now=100.0)
    with pytest.raises(ApiError) as refused:
        limiter.take("w", now=100.0)
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "20"}  # one token every 20 s at 3/min
    assert "wallet" in refused.value.message


def test_tokens_come_back_with_time_and_keys_are_separate() -> None:
    limiter = RateLimiter(60, "address")
    for _ in range(60):
        limiter.take("a", now=0.0)
    limiter.take("b", now=0.0)  # another key has its own bucket
    with pytest.raises(ApiError):
        limiter.take("a", now=0.5)
    limiter.take("a", now=1.0)  # one token a second at 60/min


def test_zero_disables_the_limit() -> None:
    limiter = RateLimiter(0, "wallet")
    for _ in range(1000):
        limiter.take("w", now=0.0)


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(10, "address", max_keys=100)
    for n in range(1000):
        limiter.take(str(n), now=0.0)
    assert len(limiter._buckets) == 100
