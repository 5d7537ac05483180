from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistantsConfig(AppConfig):
    name = "assistants"
    verbose_name = _("Assistants")

    def ready(self) -> None:
        from tenants.jobs import portal_job_register

        portal_job_register(
            name="assistants.run",
            interval=timedelta(minutes=15),
            function_path="assistants.services.assistants_job",
        )
