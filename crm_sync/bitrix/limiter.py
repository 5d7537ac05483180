"""Per-portal limits shared by every worker process, kept in Redis.

Two Bitrix24 limits (notes §6): a leaky bucket of requests per portal (standard: burst 50, drains
2/s; enterprise: 250, 5/s) and an operating-time budget per method (480 s of server time per 10
minutes). We throttle ahead of both so the portal rarely has to refuse us, and when it does, we
mark the bucket full / the method blocked for everyone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from tenants.locks import redis_client

PLANS: dict[str, tuple[int, float]] = {"standard": (50, 2.0), "enterprise": (250, 5.0)}
# Keep a little headroom under the platform's burst: clocks differ, other apps may share the IP.
_BURST_HEADROOM = 2

_ACQUIRE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local level = tonumber(redis.call('HGET', KEYS[1], 'level') or '0')
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts') or tostring(now))
level = math.max(0, level - (now - ts) * rate)
local wait = 0
if level + 1 <= burst then
  level = level + 1
else
  wait = (level + 1 - burst) / rate
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""

_SATURATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('HSET', KEYS[1], 'level', ARGV[1], 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 120)
return 1
"""


def _key(*parts: object) -> str:
    return ":".join([settings.KEEPWARM_REDIS_NAMESPACE, "b24", *map(str, parts)])


@dataclass(frozen=True)
class RequestBucket:
    """The portal's request bucket: `acquire()` returns after taking a slot."""

    portal_id: int
    plan: str

    @property
    def burst_and_rate(self) -> tuple[int, float]:
        burst, rate = PLANS.get(self.plan, PLANS["standard"])
        return max(1, burst - _BURST_HEADROOM), rate

    def try_acquire(self) -> float:
        """Take a slot if one is free (returns 0.0), else return how long to wait."""
        burst, rate = self.burst_and_rate
        script = redis_client().register_script(_ACQUIRE)
        return float(script(keys=[_key("bucket", self.portal_id)], args=[rate, burst]))

    def acquire(self) -> float:
        """Block until a slot is ours; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return waited
            time.sleep(wait)
            waited += wait

    def saturate(self) -> None:
        """The portal said QUERY_LIMIT_EXCEEDED: treat the bucket as full for everyone."""
        burst, _ = self.burst_and_rate
        redis_client().register_script(_SATURATE)(
            keys=[_key("bucket", self.portal_id)], args=[burst]
        )


@dataclass(frozen=True)
class OperatingBudget:
    """Per-method operating time: block a method once it nears the platform's limit."""

    portal_id: int

    def blocked_until(self, method: str) -> float:
        value = redis_client().get(_key("op", self.portal_id, method.lower()))
        return float(value) if value else 0.0

    def block(self, method: str, until: float) -> None:
        ttl = max(1, int(until - time.time()) + 1)
        redis_client().set(_key("op", self.portal_id, method.lower()), str(until), ex=ttl)

    def observe(self, method: str, operating: float | None, reset_at: float | None) -> None:
        """Record a response's `time.operating`; block the method if it is near the limit."""
        if operating is None:
            return
        limit = settings.BITRIX_OPERATING_LIMIT_SECONDS * settings.BITRIX_OPERATING_SAFETY
        if operating >= limit:
            self.block(method, reset_at or time.time() + 60)
