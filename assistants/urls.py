from django.urls import path
from rest_framework.routers import SimpleRouter

from assistants import views

router = SimpleRouter()
router.register("assistants/decisions", views.DecisionViewSet, basename="decision")
router.register("assistants/snoozes", views.SnoozeViewSet, basename="snooze")
router.register("assistants/absences", views.AbsenceViewSet, basename="absence")

urlpatterns = [
    path("assistants/settings/", views.AssistantSettingsApi.as_view(), name="assistant-settings"),
    path("assistants/preview/", views.AssistantPreviewApi.as_view(), name="assistant-preview"),
    path("assistants/ladder/reindex/", views.LadderReindexApi.as_view(), name="ladder-reindex"),
    path(
        "assistants/clients/<int:entity_type_id>/<int:client_id>/history/",
        views.ClientHistoryApi.as_view(),
        name="client-history",
    ),
    *router.urls,
]
