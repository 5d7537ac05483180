from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from tenants.models import GlobalSetting, Portal, PortalJobSchedule, PortalMember


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
