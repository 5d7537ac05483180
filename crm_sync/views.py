from rest_framework import mixins

from crm_sync.filters import RestCallLogFilter
from crm_sync.models import RestCallLog
from crm_sync.serializers import RestCallLogSerializer
from tenants.api import PortalScopedViewSet


class RestCallLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalScopedViewSet):
    """The portal's Bitrix24 REST call log (secrets masked), newest first."""

    serializer_class = RestCallLogSerializer
    filterset_class = RestCallLogFilter

    def get_portal_queryset(self):
        return RestCallLog.objects.order_by("-created_at", "-id")
