from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from crm_sync.filters import RestCallLogFilter
from crm_sync.models import RestCallLog
from crm_sync.selectors import sync_status
from crm_sync.serializers import RestCallLogSerializer, SyncStatusSerializer
from tenants.api import PortalScopedAPIView, PortalScopedViewSet
from tenants.authentication import IsPortalAdmin, IsPortalPrincipal


class RestCallLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalScopedViewSet):
    """The portal's Bitrix24 REST call log (secrets masked), newest first."""

    permission_classes = [IsPortalPrincipal, IsPortalAdmin]
    serializer_class = RestCallLogSerializer
    queryset_model = RestCallLog
    filterset_class = RestCallLogFilter

    def get_portal_queryset(self):
        return RestCallLog.objects.order_by("-created_at", "-id")


class SyncStatusApi(PortalScopedAPIView):
    """Progress of the portal's mirror: the running run (done/total, ETA) and per-entity counts."""

    @extend_schema(responses=SyncStatusSerializer)
    def get(self, request):
        status = sync_status()
        data = {
            "summary": status.summary,
            "running": status.running,
            "last_finished": status.last_finished,
            "eta_seconds": status.eta_seconds,
            "entities": status.entities,
        }
        return Response(SyncStatusSerializer(data).data)
