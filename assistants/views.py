from dataclasses import asdict

from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from assistants.engine import assistants_pass_run
from assistants.models import ClientSnooze, Decision, ManagerAbsence
from assistants.selectors import assistant_settings_current, client_history, decision_reasons
from assistants.serializers import (
    AbsenceSerializer,
    AssistantSettingsSerializer,
    ClientHistorySerializer,
    DecisionSerializer,
    LadderReindexSerializer,
    PreviewQuerySerializer,
    PreviewSerializer,
    SnoozeSerializer,
)
from assistants.services import (
    absence_create,
    assistant_settings_save,
    decision_undo,
    ladder_reindex,
    pass_approve,
    snooze_create,
)
from config.errors import NotFound
from tenants.api import PortalScopedAPIView, PortalScopedViewSet
from tenants.authentication import IsPortalAdmin, IsPortalAdminOrReadOnly, IsPortalPrincipal


def _who(request) -> str:
    return f"bitrix-user:{request.user.bitrix_user_id or '-'} via {request.user.via}"


def _decisions_data(decisions) -> list[dict]:
    reasons = decision_reasons(decisions, language=translation.get_language() or "ru")
    return [
        {**{f: getattr(d, f) for f in DecisionSerializer().fields}, "reason": reasons[d.pk]}
        for d in decisions
    ]


class AssistantSettingsApi(PortalScopedAPIView):
    """The portal's assistant settings: read the current version, save a new one."""

    permission_classes = [IsPortalPrincipal, IsPortalAdminOrReadOnly]

    @extend_schema(responses=AssistantSettingsSerializer)
    def get(self, request):
        current = assistant_settings_current()
        return Response({"version": current.version, "document": current.document})

    @extend_schema(request=AssistantSettingsSerializer, responses=AssistantSettingsSerializer)
    def put(self, request):
        serializer = AssistantSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        saved = assistant_settings_save(
            document=serializer.validated_data["document"], changed_by=_who(request)
        )
        return Response({"version": saved.version, "document": saved.document})


class AssistantPreviewApi(PortalScopedAPIView):
    """What a pass would decide now (or as of a moment), without acting or storing anything."""

    permission_classes = [IsPortalPrincipal, IsPortalAdmin]

    @extend_schema(parameters=[PreviewQuerySerializer], responses=PreviewSerializer)
    def get(self, request):
        query = PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = assistants_pass_run(as_of=query.validated_data.get("as_of"), dry_run=True)
        data = asdict(result)
        data["planned"] = data["planned"][: query.validated_data["limit"]]
        return Response(PreviewSerializer(data).data)


class DecisionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalScopedViewSet):
    """Decisions of every assistant with their facts and reasons; undo and approval."""

    permission_classes = [IsPortalPrincipal, IsPortalAdminOrReadOnly]

    serializer_class = DecisionSerializer
    queryset_model = Decision
    filterset_fields = ["assistant", "rule", "status", "action", "entity_type_id", "client_id"]

    def get_portal_queryset(self):
        return Decision.objects.order_by("-id")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            DecisionSerializer(_decisions_data(page), many=True).data
        )

    def retrieve(self, request, *args, **kwargs):
        decision = self.get_object()
        return Response(DecisionSerializer(_decisions_data([decision])[0]).data)

    @extend_schema(request=None, responses=DecisionSerializer)
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        compensation = decision_undo(decision_id=self.get_object().pk, by=_who(request))
        return Response(DecisionSerializer(_decisions_data([compensation])[0]).data, status=201)

    @extend_schema(request=None, responses={200: None})
    @action(detail=False, methods=["post"], url_path=r"approve-pass/(?P<pass_id>\d+)")
    def approve_pass(self, request, pass_id=None):
        return Response({"approved": pass_approve(pass_id=int(pass_id))})


class LadderReindexApi(PortalScopedAPIView):
    """Take in the statuses as set in Bitrix24 now (seed 001: index them after a bulk import)."""

    permission_classes = [IsPortalPrincipal, IsPortalAdmin]

    @extend_schema(request=None, responses=LadderReindexSerializer)
    def post(self, request):
        counts = ladder_reindex(portal=self.portal, by=_who(request))
        return Response(LadderReindexSerializer(counts).data)


class ClientHistoryApi(PortalScopedAPIView):
    """Why a client has its status and what assistants did to it (seed 001's debug info)."""

    @extend_schema(responses=ClientHistorySerializer)
    def get(self, request, entity_type_id: int, client_id: int):
        if entity_type_id not in (2, 3, 4):
            raise NotFound("Unknown entity type.")
        history = client_history(entity_type_id=entity_type_id, client_id=client_id)
        data = asdict(history)
        data["events"] = [
            {
                "created_at": e.created_at,
                "kind": e.kind,
                "detail": e.detail,
                "reason": e.reason,
                "decision_id": e.decision_id,
            }
            for e in history.events
        ]
        data["decisions"] = _decisions_data(history.decisions)
        return Response(ClientHistorySerializer(data).data)


class SnoozeViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, PortalScopedViewSet):
    """Manual snoozes: the client is neither forgotten nor released until the date."""

    serializer_class = SnoozeSerializer
    queryset_model = ClientSnooze

    def get_portal_queryset(self):
        return ClientSnooze.objects.order_by("-id")

    def perform_create(self, serializer):
        serializer.instance = snooze_create(
            **serializer.validated_data, by=self.request.user.bitrix_user_id
        )


class AbsenceViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, PortalScopedViewSet):
    """Managers' leave: no releases from them and no hand-overs to them while away."""

    permission_classes = [IsPortalPrincipal, IsPortalAdminOrReadOnly]

    serializer_class = AbsenceSerializer
    queryset_model = ManagerAbsence

    def get_portal_queryset(self):
        return ManagerAbsence.objects.order_by("-starts_on")

    def perform_create(self, serializer):
        serializer.instance = absence_create(**serializer.validated_data)
