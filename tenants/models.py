"""Public-schema models: portals (the tenants), their client admins and the job schedule."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import TenantMixin

from tenants.fields import EncryptedTextField


class Portal(TenantMixin):
    """One Bitrix24 account and its PostgreSQL schema.

    Keyed by `member_id`: a portal's domain can change, its member_id never does.
    """

    class InstallState(models.TextChoices):
        PENDING = "pending", _("Installing")
        ACTIVE = "active", _("Active")
        DISCONNECTED = "disconnected", _("Disconnected")
        UNINSTALLED = "uninstalled", _("Uninstalled")

    class Plan(models.TextChoices):
        STANDARD = "standard", _("Standard")
        ENTERPRISE = "enterprise", _("Enterprise")

    member_id = models.CharField(_("member id"), max_length=64, unique=True)
    domain = models.CharField(_("domain"), max_length=253)
    region = models.CharField(_("region"), max_length=16, blank=True, default="")
    plan = models.CharField(
        _("rate-limit plan"), max_length=16, choices=Plan.choices, default=Plan.STANDARD
    )
    install_state = models.CharField(
        _("install state"),
        max_length=16,
        choices=InstallState.choices,
        default=InstallState.PENDING,
        db_index=True,
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Moscow")
    language = models.CharField(_("language"), max_length=8, default="ru")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    installed_at = models.DateTimeField(_("installed"), null=True, blank=True)
    uninstalled_at = models.DateTimeField(_("uninstalled"), null=True, blank=True)

    # Deleting a portal row drops its schema: there is no data of a portal outside it.
    auto_create_schema = True
    auto_drop_schema = True

    class Meta:
        verbose_name = _("portal")
        verbose_name_plural = _("portals")
        ordering = ["domain"]

    def __str__(self) -> str:
        return f"{self.domain} ({self.member_id})"

    def create_schema(self, check_if_exists=False, sync_schema=True, verbosity=1):
        """django-tenants' hook: create the schema through the per-process SQL recording."""
        from django_tenants.utils import schema_exists

        from tenants.schema_create import portal_schema_create

        if not sync_schema:
            return super().create_schema(check_if_exists, sync_schema, verbosity)
        if check_if_exists and schema_exists(self.schema_name):
            return False
        portal_schema_create(self.schema_name, verbosity=verbosity)
        return True

    @property
    def is_active(self) -> bool:
        return self.install_state == self.InstallState.ACTIVE


class PortalMember(models.Model):
    """A client admin or supervisor who may log in to a portal's pages outside the iframe."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Portal administrator")
        SUPERVISOR = "supervisor", _("Supervisor")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_memberships"
    )
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ADMIN)
    bitrix_user_id = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("portal member")
        verbose_name_plural = _("portal members")
        constraints = [
            models.UniqueConstraint(fields=["user", "portal"], name="portal_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.portal.domain}"


class PortalJobSchedule(models.Model):
    """When each periodic job is next due for each portal.

    One scheduler tick claims due rows with SKIP LOCKED, so two schedulers never claim the same
    row, and bumps `next_run_at` in the same transaction before enqueueing.
    """

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="job_schedules")
    job = models.CharField(max_length=64)
    next_run_at = models.DateTimeField(db_index=True)
    last_enqueued_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        verbose_name = _("portal job schedule")
        verbose_name_plural = _("portal job schedules")
        constraints = [
            models.UniqueConstraint(fields=["portal", "job"], name="portal_job_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.job} for portal {self.portal_id}"


class GlobalSetting(models.Model):
    """Vendor-wide settings editable in the back office (one JSON value per key)."""

    key = models.SlugField(max_length=64, unique=True)
    value = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("global setting")
        verbose_name_plural = _("global settings")

    def __str__(self) -> str:
        return self.key


class PortalCredentials(models.Model):
    """The OAuth tokens Keepwarm holds for a portal, encrypted at rest.

    One row per portal. Tokens are refreshed only when Bitrix24 answers `expired_token`, by one
    process at a time (crm_sync.bitrix.tokens); the rotated pair is saved before it is used.
    """

    portal = models.OneToOneField(Portal, on_delete=models.CASCADE, related_name="credentials")
    client_endpoint = models.URLField(_("REST endpoint"), max_length=300)
    server_endpoint = models.URLField(_("OAuth server endpoint"), max_length=300)
    access_token = EncryptedTextField(_("access token"))
    refresh_token = EncryptedTextField(_("refresh token"))
    access_expires_at = models.DateTimeField(_("access token expires"), null=True, blank=True)
    application_token = EncryptedTextField(_("application token"), blank=True, default="")
    scope = models.CharField(_("granted scopes"), max_length=500, blank=True, default="")
    bitrix_user_id = models.PositiveIntegerField(_("token user"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("last refresh"), null=True, blank=True)
    refresh_count = models.PositiveIntegerField(_("refreshes"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("portal credentials")
        verbose_name_plural = _("portal credentials")

    def __str__(self) -> str:
        return f"credentials of portal {self.portal_id}"


class StaffAccessLog(models.Model):
    """One row per look of vendor staff at a portal's own data; the portal's admin sees it."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="staff_access")
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    staff_username = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    detail = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("staff access")
        verbose_name_plural = _("staff access log")
        ordering = ["-created_at"]
        permissions = [("view_portal_data", _("Can view a portal's own data (audited)"))]

    def __str__(self) -> str:
        return f"{self.staff_username} {self.action} {self.portal_id}"
