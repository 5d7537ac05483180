"""Project-wide views."""

from django.http import JsonResponse


def ratelimited(request, exception=None):
    """django-ratelimit's answer: 429 in the API's one error shape."""
    response = JsonResponse(
        {"error": "rate_limited", "detail": "Too many requests; slow down and retry later."},
        status=429,
    )
    response["Retry-After"] = "60"
    return response
