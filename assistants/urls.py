from django.urls import path

from assistants import views

urlpatterns = [
    path("assistants/settings/", views.AssistantSettingsApi.as_view(), name="assistant-settings"),
]
