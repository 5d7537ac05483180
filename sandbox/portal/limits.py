"""The two Bitrix24 limits (notes §6), kept in memory per sandbox process.

Leaky bucket: each REST request adds 1 to a counter per source address that drains at `rate`
per second; above `burst` the request is refused with 503 QUERY_LIMIT_EXCEEDED. A batch is one
request; OAuth and /sandbox/ calls are not counted.

Operating time: each call's simulated cost is added to its method's ten one-minute buckets for
the calling app (or webhook). When the last ten minutes exceed the limit, the next call of that
method is refused with 429 OPERATION_TIME_LIMIT (other methods are unaffected). The cost model
is deterministic: 2 ms per call, 0.02 ms per returned row, plus 1 ms per 50 rows skipped with
`start` (deep pages cost more, as on real portals; `>ID` windows with start=-1 stay cheap).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

PLANS = {"standard": (50, 2.0), "enterprise": (250, 5.0)}
BUCKET_SECONDS = 60
WINDOW_BUCKETS = 10


def call_cost(rows: int = 0, start: int = 0) -> float:
    return 0.002 + 0.00002 * rows + 0.001 * max(0, start) / 50


class LeakyBucket:
    def __init__(self, plan: str):
        self.burst, self.rate = PLANS.get(plan, PLANS["standard"])
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self.rejected = 0

    def take(self, source: str) -> bool:
        now = time.monotonic()
        with self._lock:
            level, stamp = self._state.get(source, (0.0, now))
            level = max(0.0, level - (now - stamp) * self.rate)
            if level + 1 > self.burst:
                self._state[source] = (level, now)
                self.rejected += 1
                return False
            self._state[source] = (level + 1, now)
            return True


class OperatingTime:
    def __init__(self, limit_seconds: float):
        self.limit = limit_seconds
        self._buckets: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        self._lock = threading.Lock()

    def _window(self, key: tuple[str, str], now: float) -> dict[int, float]:
        buckets = self._buckets[key]
        current = int(now // BUCKET_SECONDS)
        for minute in [m for m in buckets if m <= current - WINDOW_BUCKETS]:
            del buckets[minute]
        return buckets

    def used(self, principal: str, method: str, now: float | None = None) -> tuple[float, float]:
        """(seconds used in the last ten minutes, when the oldest bucket drops)."""
        now = now or time.time()
        with self._lock:
            buckets = self._window((principal, method.lower()), now)
            if not buckets:
                return 0.0, now + BUCKET_SECONDS * WINDOW_BUCKETS
            oldest = min(buckets)
            return sum(buckets.values()), (oldest + WINDOW_BUCKETS) * BUCKET_SECONDS

    def blocked(self, principal: str, method: str) -> float | None:
        used, reset_at = self.used(principal, method)
        return reset_at if used > self.limit else None

    def charge(self, principal: str, method: str, seconds: float) -> tuple[float, float]:
        now = time.time()
        with self._lock:
            buckets = self._window((principal, method.lower()), now)
            minute = int(now // BUCKET_SECONDS)
            buckets[minute] = buckets.get(minute, 0.0) + seconds
        return self.used(principal, method, now)
