from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from assistants.selectors import assistant_settings_current
from assistants.serializers import AssistantSettingsSerializer
from assistants.services import assistant_settings_save
from tenants.api import PortalScopedAPIView


class AssistantSettingsApi(PortalScopedAPIView):
    """The portal's assistant settings: read the current version, save a new one."""

    @extend_schema(responses=AssistantSettingsSerializer)
    def get(self, request):
        current = assistant_settings_current()
        return Response({"version": current.version, "document": current.document})

    @extend_schema(request=AssistantSettingsSerializer, responses=AssistantSettingsSerializer)
    def put(self, request):
        serializer = AssistantSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        who = f"bitrix-user:{request.user.bitrix_user_id or '-'} via {request.user.via}"
        saved = assistant_settings_save(
            document=serializer.validated_data["document"], changed_by=who
        )
        return Response({"version": saved.version, "document": saved.document})
