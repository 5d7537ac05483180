from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmSyncConfig(AppConfig):
    name = "crm_sync"
    verbose_name = _("CRM sync")

    def ready(self) -> None:
        from crm_sync import checks  # noqa: F401 - registers the system checks
        from tenants.jobs import portal_job_register

        portal_job_register(
            name="crm_sync.rest_log_purge",
            interval=timedelta(hours=6),
            function_path="crm_sync.services.rest_log_purge_job",
        )
        portal_job_register(
            name="crm_sync.sweep",
            interval=timedelta(minutes=10),
            function_path="crm_sync.services.sweep_job",
        )
        portal_job_register(
            name="crm_sync.details_backfill",
            interval=timedelta(minutes=1),
            function_path="crm_sync.sync.backfill.details_backfill_job",
        )
        portal_job_register(
            name="crm_sync.comments_backfill",
            interval=timedelta(minutes=1),
            function_path="crm_sync.sync.comments.comments_backfill_job",
        )
        portal_job_register(
            name="crm_sync.absences_refresh",
            interval=timedelta(hours=1),
            function_path="crm_sync.sync.absences.absences_refresh_job",
        )
        portal_job_register(
            name="crm_sync.sync_resume",
            interval=timedelta(minutes=1),
            function_path="crm_sync.services.sync_runs_resume",
        )
