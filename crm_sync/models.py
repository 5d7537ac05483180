"""Per-portal (tenant schema) models of the CRM sync app."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RestCallLog(models.Model):
    """One Bitrix24 REST request and its response, secrets masked.

    Marketplace rules require server apps to keep these at least 3 days; we keep them
    KEEPWARM_REST_LOG_RETENTION_DAYS and purge older rows periodically.
    """

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    method = models.CharField(_("method"), max_length=128, db_index=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True, default="")
    duration_ms = models.PositiveIntegerField(_("duration, ms"), default=0)
    request = models.JSONField(_("request (masked)"), default=dict, blank=True)
    response = models.JSONField(_("response (masked, truncated)"), default=dict, blank=True)

    class Meta:
        verbose_name = _("REST call")
        verbose_name_plural = _("REST calls")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.method} {self.http_status or ''}"
