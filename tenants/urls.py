from django.urls import path

from tenants import views

urlpatterns = [
    path("portal/", views.PortalDetailApi.as_view(), name="portal-detail"),
    path("auth/token/", views.PortalTokenIssueApi.as_view(), name="portal-token"),
]
