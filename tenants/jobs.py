"""The registry of periodic per-portal jobs.

Apps register their jobs in AppConfig.ready(); the one scheduler tick (tenants.services.
scheduler_tick_run) fans out to whichever portal jobs are due. A job is a plain function that
takes the portal (already switched to its schema) and returns a short outcome string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from tenants.models import Portal


@dataclass(frozen=True)
class PortalJob:
    name: str
    interval: timedelta
    function_path: str

    def function(self) -> Callable[[Portal], str]:
        return import_string(self.function_path)


_REGISTRY: dict[str, PortalJob] = {}


def portal_job_register(*, name: str, interval: timedelta, function_path: str) -> None:
    """Declare a periodic job; registering the same name twice with other values is a bug."""
    job = PortalJob(name=name, interval=interval, function_path=function_path)
    existing = _REGISTRY.get(name)
    if existing is not None and existing != job:
        raise ValueError(f"portal job {name!r} is already registered differently")
    _REGISTRY[name] = job


def portal_jobs() -> list[PortalJob]:
    return sorted(_REGISTRY.values(), key=lambda job: job.name)


def portal_job_get(name: str) -> PortalJob | None:
    return _REGISTRY.get(name)
