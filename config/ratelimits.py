"""Rates of the public endpoints, read from settings at request time (so tests can change them)."""

import re

from django.conf import settings

_RATE_RE = re.compile(r"^(\d+)/(\d*)([smhd]?)$")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def install_rate(group, request) -> str:
    return settings.KEEPWARM_RATE_INSTALL


def app_rate(group, request) -> str:
    return settings.KEEPWARM_RATE_APP


def login_rate(group, request) -> str:
    return settings.KEEPWARM_RATE_LOGIN


def rate_split(rate: str) -> tuple[int, int]:
    """'6000/m' -> (6000, 60); django-ratelimit's syntax, for limits counted in our own Redis
    round trips (the event endpoint)."""
    match = _RATE_RE.match(rate.strip())
    if match is None:
        raise ValueError(f"not a rate: {rate!r}")
    count, multiplier, period = match.groups()
    return int(count), int(multiplier or 1) * _PERIOD_SECONDS[period or "s"]
