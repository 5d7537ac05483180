from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants import views

router = SimpleRouter()
router.register("audit/staff-access", views.StaffAccessViewSet, basename="staff-access")

urlpatterns = [
    *router.urls,
    path("portal/", views.PortalDetailApi.as_view(), name="portal-detail"),
    path("auth/token/", views.PortalTokenIssueApi.as_view(), name="portal-token"),
]
