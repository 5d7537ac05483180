from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from analytics.selectors import rest_usage
from analytics.serializers import RestUsageQuerySerializer, RestUsageSerializer
from tenants.api import PortalScopedAPIView
from tenants.authentication import IsPortalAdmin, IsPortalPrincipal


class RestUsageApi(PortalScopedAPIView):
    """REST calls Keepwarm made to the portal, per method, over the last N days."""

    permission_classes = [IsPortalPrincipal, IsPortalAdmin]

    @extend_schema(parameters=[RestUsageQuerySerializer], responses=RestUsageSerializer)
    def get(self, request):
        query = RestUsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        usage = rest_usage(days=query.validated_data["days"])
        return Response(RestUsageSerializer(asdict(usage)).data)
