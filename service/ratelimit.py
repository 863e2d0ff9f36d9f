"""Per-key rate limiting: a token bucket per key, in this process.

A key may send ``burst`` requests at once and ``per_minute`` on average; beyond that it gets 429 with
``Retry-After`` (whole seconds until a token is back). Counts are per API process: behind a load balancer
with N replicas a key can reach N × its limit (set the limit per replica accordingly).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


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
