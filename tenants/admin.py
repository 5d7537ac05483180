from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.sites import UnfoldAdminSite

from tenants.models import GlobalSetting, Portal, PortalJobSchedule, PortalMember, StaffAccessLog
from tenants.services import portal_event_identity_forget, staff_access_record


class KeepwarmAdminSite(UnfoldAdminSite):
    """Unfold's back office that also demands a verified second factor (django-otp)."""

    login_template = "admin/login.html"  # renders the OTP fields of UNFOLD["LOGIN"]["form"]

    def has_permission(self, request):
        verified = not settings.KEEPWARM_ADMIN_REQUIRE_OTP or request.user.is_verified()
        return super().has_permission(request) and verified


# The admin site instance is created by django.contrib.admin; give it our class.
admin.site.__class__ = KeepwarmAdminSite


class PortalMemberInline(TabularInline):
    model = PortalMember
    extra = 0
    autocomplete_fields = ["user"]


class PortalJobScheduleInline(TabularInline):
    model = PortalJobSchedule
    extra = 0
    can_delete = False
    readonly_fields = ["job", "next_run_at", "last_enqueued_at", "last_finished_at", "last_outcome"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Portal)
class PortalAdmin(ModelAdmin):
    list_display = ["domain", "member_id", "install_state", "plan", "region", "created_at"]
    list_filter = ["install_state", "plan", "region"]
    search_fields = ["domain", "member_id"]
    readonly_fields = [
        "schema_name",
        "member_id",
        "created_at",
        "updated_at",
        "installed_at",
        "uninstalled_at",
    ]
    fieldsets = [
        (None, {"fields": ["domain", "member_id", "schema_name", "install_state"]}),
        (_("Account"), {"fields": ["region", "plan", "time_zone", "language"]}),
        (
            _("Lifecycle"),
            {"fields": ["created_at", "updated_at", "installed_at", "uninstalled_at"]},
        ),
    ]
    inlines = [PortalMemberInline, PortalJobScheduleInline]
    change_form_before_template = "admin/tenants/portal_links.html"

    # Staff may change a portal's install state here: the event endpoint must see it at once.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        portal_event_identity_forget(member_id=obj.member_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        portal_event_identity_forget(member_id=obj.member_id)

    def delete_queryset(self, request, queryset):
        member_ids = list(queryset.values_list("member_id", flat=True))
        super().delete_queryset(request, queryset)
        for member_id in member_ids:
            portal_event_identity_forget(member_id=member_id)

    def get_urls(self):
        urls = [
            path(
                "<int:portal_id>/rest-log/",
                self.admin_site.admin_view(self.rest_log_view),
                name="tenants_portal_rest_log",
            ),
            path(
                "<int:portal_id>/sync/",
                self.admin_site.admin_view(self.sync_view),
                name="tenants_portal_sync",
            ),
        ]
        return urls + super().get_urls()

    def _portal_for_staff(self, request, portal_id: int, action: str, detail: str = "") -> Portal:
        if not request.user.has_perm("tenants.view_portal_data"):
            raise PermissionDenied
        portal = get_object_or_404(Portal, pk=portal_id)
        staff_access_record(portal=portal, user=request.user, action=action, detail=detail)
        return portal

    def rest_log_view(self, request, portal_id: int):
        """The portal's Bitrix24 REST log, searchable; every look is audited."""
        from crm_sync.selectors import rest_calls_search

        query = request.GET.get("q", "")[:128]
        portal = self._portal_for_staff(request, portal_id, "rest_log", f"q={query}")
        with portal:
            rows = rest_calls_search(query=query, limit=200)
        context = {
            **self.admin_site.each_context(request),
            "title": _("REST log of %(domain)s") % {"domain": portal.domain},
            "portal": portal,
            "rows": rows,
            "query": query,
        }
        return TemplateResponse(request, "admin/tenants/portal_rest_log.html", context)

    def sync_view(self, request, portal_id: int):
        """The portal's sync progress (done/total, ETA) and per-entity counts."""
        from crm_sync.selectors import sync_status

        portal = self._portal_for_staff(request, portal_id, "sync_status")
        with portal:
            status = sync_status()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Sync of %(domain)s") % {"domain": portal.domain},
            "portal": portal,
            "status": status,
        }
        return TemplateResponse(request, "admin/tenants/portal_sync.html", context)

    def has_add_permission(self, request):
        # Portals come from the Bitrix24 install flow, never from a form.
        return False

    def has_delete_permission(self, request, obj=None):
        # A portal's data goes away through uninstall and its retention period (which drops
        # the schema), never through a bulk admin delete that would leave schemas behind.
        return False


@admin.register(GlobalSetting)
class GlobalSettingAdmin(ModelAdmin):
    list_display = ["key", "updated_at"]
    search_fields = ["key"]


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


@admin.register(StaffAccessLog)
class StaffAccessLogAdmin(ModelAdmin):
    list_display = ["created_at", "staff_username", "portal", "action", "detail"]
    list_filter = ["action"]
    search_fields = ["staff_username", "portal__domain", "detail"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
