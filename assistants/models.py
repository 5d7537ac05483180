"""Per-portal (tenant schema) models of the assistants app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AssistantSettings(models.Model):
    """One version of a portal's assistant settings; the highest version is current.

    Versions are never edited in place, so every decision can name the settings it was made under.
    """

    version = models.PositiveIntegerField(_("version"), unique=True)
    document = models.JSONField(_("settings"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.CharField(_("changed by"), max_length=128, blank=True, default="")

    class Meta:
        verbose_name = _("assistant settings")
        verbose_name_plural = _("assistant settings")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version}"
