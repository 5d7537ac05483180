"""Redis leases shared by every worker and scheduler process."""

from __future__ import annotations

import functools

import redis
from django.conf import settings
from redis.lock import Lock


@functools.cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5)


def portal_lock(portal_id: int, *, timeout: int | None = None) -> Lock:
    """One lock per portal: periodic jobs of a portal never overlap.

    The lease expires on its own, so a worker killed while holding it cannot wedge the portal.
    """
    return Lock(
        redis_client(),
        f"{settings.KEEPWARM_REDIS_NAMESPACE}:lock:portal:{portal_id}",
        timeout=timeout or settings.KEEPWARM_PORTAL_LOCK_SECONDS,
        blocking=False,
        thread_local=False,
    )


def lease_acquire(name: str, seconds: float) -> bool:
    """A best-effort lease (SET NX EX): true for exactly one caller per window."""
    return bool(
        redis_client().set(
            f"{settings.KEEPWARM_REDIS_NAMESPACE}:lease:{name}",
            "1",
            nx=True,
            px=int(seconds * 1000),
        )
    )


def lease_release(name: str) -> None:
    """End a lease early (tests, and a tick that wants the next one to run at once)."""
    redis_client().delete(f"{settings.KEEPWARM_REDIS_NAMESPACE}:lease:{name}")
