"""Keepwarm's Bitrix24 REST client: transport, limits, tokens, batch and fast export.

Why not the official b24pysdk: it hard-codes its OAuth host (we must use each portal's
`server_endpoint`), does not throttle ahead of the platform's leaky bucket, retries only HTTP 503
with a fixed linear delay and never 429, and keeps per-token state in-process, while our workers
are many processes that must share one rate limit and one token per portal. So this package is a
thin transport over httpx with a Redis-shared limiter and token refresh, and nothing else.
"""
