from django.urls import path

from tenants import b24_views

urlpatterns = [
    path("install/", b24_views.install_view, name="b24-install"),
    path("events/", b24_views.events_view, name="b24-events"),
    path("app/", b24_views.app_view, name="b24-app"),
]
