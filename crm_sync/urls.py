from django.urls import path
from rest_framework.routers import SimpleRouter

from crm_sync import views

router = SimpleRouter()
router.register("sync/rest-calls", views.RestCallLogViewSet, basename="rest-call")

urlpatterns = [
    path("sync/status/", views.SyncStatusApi.as_view(), name="sync-status"),
    *router.urls,
]
