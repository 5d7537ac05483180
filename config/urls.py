from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django_ratelimit.decorators import ratelimit
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from health_check.views import HealthCheckView

from config import ratelimits


def _redis_client():
    from redis.asyncio import Redis

    return Redis.from_url(settings.REDIS_URL)


health_checks = [
    "health_check.checks.Database",
    "health_check.checks.Cache",
    ("health_check.contrib.redis.Redis", {"client_factory": _redis_client}),
    "health_check.contrib.celery.Ping",
]

api_v1 = [
    path("", include("tenants.urls")),
    path("", include("crm_sync.urls")),
    path("", include("assistants.urls")),
    path("", include("analytics.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        ratelimit(key="ip", rate=ratelimits.login_rate, method="POST", block=True)(
            auth_views.LoginView.as_view()
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", HealthCheckView.as_view(checks=health_checks), name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's setup script as a file: no inline script, so the
    # Content-Security-Policy needs no 'unsafe-inline' (config.csp).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("security/", include("security_docs.urls")),
    path("b24/", include("tenants.b24_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
