"""Per-key rate limiting: a key may send ``burst`` requests at once and ``per_minute`` on average; beyond
that it gets 429 with ``Retry-After`` (whole seconds until the next request is allowed).

Two implementations with one ``check`` method:

- :class:`RateLimiter` (default): a token bucket per key in this process. Behind a load balancer with N API
  replicas a key can reach N × its limit.
- :class:`RedisRateLimiter` (``ADVISOR_RATE_LIMIT_REDIS_URL``): GCRA in one Lua script on Redis, so every
  replica counts against the same limit. It uses Redis's clock (replicas' clocks may differ). If Redis cannot
  be reached the request is let through and a warning is logged: a limiter outage must not take the API down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Limiter(Protocol):
    """What the auth dependency calls: 0 if the request is allowed, else whole seconds to wait."""

    def check(self, key: str, *, per_minute: int, burst: int) -> int: ...


class RateLimiter:
    """Token buckets keyed by API key id; ``check`` returns 0 (allowed) or the seconds to wait."""

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self._clock = clock

    def check(self, key: str, *, per_minute: int, burst: int) -> int:
        """Take one token from ``key``'s bucket; 0 if there was one, else whole seconds until there is."""
        rate = per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0
            else:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / rate))
            while len(self._buckets) > self._max_keys:  # least recently seen keys go first
                self._buckets.popitem(last=False)
        return wait


# GCRA (the generic cell rate algorithm): one stored "theoretical arrival time" per key. A request is allowed
# while tat - now <= tau, tau = (burst - 1) × interval; it then moves tat one interval on.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tau then
  return tat - now - tau
end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat + interval - now + 1000))
return 0
"""


class RedisRateLimiter:
    """The same limits, shared by every API process through Redis (keys ``<prefix><key id>``)."""

    def __init__(self, url: str, *, prefix: str = "advisor:ratelimit:", timeout_s: float = 0.5) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._script = self._client.register_script(_GCRA)
        self._prefix = prefix
        self._warned_at = 0.0

    def check(self, key: str, *, per_minute: int, burst: int) -> int:
        """0 if allowed, else whole seconds until it would be; 0 (with a warning) if Redis is unreachable."""
        interval_ms = 60_000.0 / per_minute
        try:
            wait_ms = float(self._script(keys=[self._prefix + key], args=[interval_ms, interval_ms * (burst - 1)]))
        except Exception as exc:  # redis.RedisError, OSError: fail open
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                logger.warning(
                    "rate limiter: Redis unreachable (%s); requests are not limited meanwhile", type(exc).__name__
                )
            return 0
        return 0 if wait_ms <= 0 else max(1, math.ceil(wait_ms / 1000))

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def make_limiter(redis_url: str) -> Limiter:
    """The limiter the settings ask for: Redis-backed when ``redis_url`` is set, else in-process."""
    return RedisRateLimiter(redis_url) if redis_url else RateLimiter()
