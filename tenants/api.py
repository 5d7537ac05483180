"""The tenancy choke point of the REST API.

Every portal API view derives from PortalScopedAPIView / PortalScopedViewSet. They authenticate
only principals the PortalResolutionMiddleware verified, check that the connection is in that
portal's schema, and expose `self.portal`. A subclass cannot loosen any of this: overriding the
methods that authenticate, authorize or build the queryset, or swapping the authentication or
permission classes, fails at import time.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from rest_framework import exceptions as drf_exceptions
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ApplicationError
from tenants.authentication import (
    IsPortalPrincipal,
    PortalPrincipal,
    PortalSessionAuthentication,
    PortalTokenAuthentication,
)

_ALLOWED_AUTHENTICATION = (PortalTokenAuthentication, PortalSessionAuthentication)
_PROTECTED_METHODS = (
    "dispatch",
    "initialize_request",
    "initial",
    "perform_authentication",
    "get_authenticators",
    "get_permissions",
    "check_permissions",
    "check_object_permissions",
    "get_queryset",
)


class _PortalScoped:
    queryset_model = None  # the model listed, for the OpenAPI schema
    authentication_classes = list(_ALLOWED_AUTHENTICATION)
    permission_classes = [IsPortalPrincipal]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _PROTECTED_METHODS:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {name}(); portal-scoped views may not. "
                    "Implement get_portal_queryset() instead."
                )
        if IsPortalPrincipal not in cls.permission_classes:
            raise TypeError(f"{cls.__name__} must keep IsPortalPrincipal in permission_classes")
        if not cls.authentication_classes or any(
            auth not in _ALLOWED_AUTHENTICATION for auth in cls.authentication_classes
        ):
            raise TypeError(f"{cls.__name__} may only use the portal authentication classes")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        principal = request.user
        if not isinstance(principal, PortalPrincipal):  # pragma: no cover - permission says no
            raise drf_exceptions.NotAuthenticated()
        if connection.schema_name != principal.portal.schema_name:
            raise drf_exceptions.PermissionDenied("The request is not bound to your portal.")
        self.portal = principal.portal

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no request, no portal
            return self.queryset_model.objects.none()
        return self.get_portal_queryset()

    def get_portal_queryset(self):
        """Rows of the resolved portal (the connection is already in its schema)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_portal_queryset()")


class PortalScopedAPIView(_PortalScoped, APIView):
    """Base for single-action portal endpoints."""


class PortalScopedViewSet(_PortalScoped, viewsets.GenericViewSet):
    """Base for portal resources with list/retrieve/... actions."""


def keepwarm_exception_handler(exc, context):
    """One error shape for the whole API: {"error": code, "detail": message[, "fields": …]}."""
    if isinstance(exc, ApplicationError):
        body = {"error": exc.code, "detail": exc.message, **exc.extra}
        return Response(body, status=exc.http_status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = {
            "error": "invalid",
            "detail": "The input is not valid.",
            "fields": exc.detail,
        }
    elif isinstance(exc, drf_exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "error": codes if isinstance(codes, str) else "error",
            "detail": str(exc.detail),
        }
    return response
