from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityDocsConfig(AppConfig):
    name = "security_docs"
    verbose_name = _("Security documentation")
