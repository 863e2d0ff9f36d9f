"""The Redis rate limiter against the real Redis: two API processes share one limit; Redis down fails open."""

from __future__ import annotations

import uuid

import pytest
from _services import REDIS_URL, free_port, require

from service.ratelimit import RedisRateLimiter

pytestmark = pytest.mark.integration


def test_two_limiters_share_one_bucket() -> None:
    require("Redis")
    key = uuid.uuid4().hex
    api_1, api_2 = RedisRateLimiter(REDIS_URL), RedisRateLimiter(REDIS_URL)  # as two replicas would
    try:
        allowed = [
            api_1.check(key, per_minute=6, burst=3),
            api_2.check(key, per_minute=6, burst=3),
            api_1.check(key, per_minute=6, burst=3),
        ]
        assert allowed == [0, 0, 0]
        wait = api_2.check(key, per_minute=6, burst=3)  # the 4th request, whichever replica gets it
        assert 1 <= wait <= 10  # one request per 10 s refills
        assert api_1.check(uuid.uuid4().hex, per_minute=6, burst=3) == 0  # other keys are unaffected
    finally:
        api_1.close()
        api_2.close()


def test_a_redis_outage_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    down = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    assert down.check("k", per_minute=1, burst=1) == 0
    assert down.check("k", per_minute=1, burst=1) == 0
    assert "Redis unreachable" in caplog.text
