"""Rates of the public endpoints, read from settings at request time (so tests can change them)."""

from django.conf import settings


def install_rate(group, request) -> str:
    return settings.KEEPWARM_RATE_INSTALL


def events_rate(group, request) -> str:
    return settings.KEEPWARM_RATE_EVENTS


def app_rate(group, request) -> str:
    return settings.KEEPWARM_RATE_APP


def login_rate(group, request) -> str:
    return settings.KEEPWARM_RATE_LOGIN
