from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Portals")

    def ready(self) -> None:
        from tenants import schema  # noqa: F401 - registers the OpenAPI auth extensions
