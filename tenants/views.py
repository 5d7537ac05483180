from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from tenants.api import PortalScopedAPIView, PortalScopedViewSet
from tenants.authentication import IsPortalAdmin, IsPortalPrincipal
from tenants.models import StaffAccessLog
from tenants.serializers import PortalSerializer, PortalTokenSerializer, StaffAccessSerializer
from tenants.services import portal_api_token_issue


class PortalDetailApi(PortalScopedAPIView):
    """The portal the caller is bound to."""

    @extend_schema(responses=PortalSerializer)
    def get(self, request):
        return Response(PortalSerializer(self.portal).data)


class PortalTokenIssueApi(PortalScopedAPIView):
    """A fresh short-lived API token for the caller's portal (sliding renewal)."""

    @extend_schema(request=None, responses=PortalTokenSerializer)
    def post(self, request):
        # The new token carries the caller's role: renewing never makes a user an admin.
        token = portal_api_token_issue(
            portal=self.portal,
            bitrix_user_id=request.user.bitrix_user_id,
            is_admin=request.user.is_admin,
        )
        ttl = int(settings.KEEPWARM_PORTAL_TOKEN_TTL.total_seconds())
        return Response(PortalTokenSerializer({"token": token, "expires_in": ttl}).data)


class StaffAccessViewSet(mixins.ListModelMixin, PortalScopedViewSet):
    """Every time Keepwarm staff looked at this portal's data (public table: filtered by portal)."""

    permission_classes = [IsPortalPrincipal, IsPortalAdmin]

    serializer_class = StaffAccessSerializer
    queryset_model = StaffAccessLog

    def get_portal_queryset(self):
        return StaffAccessLog.objects.filter(portal=self.portal).order_by("-created_at")
