"""The portal-scoped API base class cannot be loosened, and every API route uses it."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny

from tenants.api import PortalScopedAPIView, PortalScopedViewSet


@pytest.mark.parametrize(
    "attribute", ["get_queryset", "initial", "dispatch", "check_permissions", "get_authenticators"]
)
def test_a_subclass_may_not_override_the_scoping_methods(attribute):
    with pytest.raises(TypeError, match=attribute):
        type("Sneaky", (PortalScopedViewSet,), {attribute: lambda self, *a, **k: None})


def test_a_subclass_may_not_drop_the_portal_permission():
    with pytest.raises(TypeError, match="IsPortalPrincipal"):
        type("Open", (PortalScopedAPIView,), {"permission_classes": [AllowAny]})


def test_a_subclass_may_not_bring_its_own_authentication():
    from rest_framework.authentication import BasicAuthentication

    with pytest.raises(TypeError, match="authentication"):
        type("Basic", (PortalScopedAPIView,), {"authentication_classes": [BasicAuthentication]})


def _api_routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
            yield route, entry.callback


def test_every_api_route_is_portal_scoped():
    routes = list(_api_routes())
    assert routes, "no /api/v1/ routes found"
    for route, callback in routes:
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        assert view_class is not None, route
        assert issubclass(view_class, PortalScopedAPIView | PortalScopedViewSet), route
