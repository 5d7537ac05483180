from django.urls import path

from analytics import views

urlpatterns = [
    path("analytics/rest-usage/", views.RestUsageApi.as_view(), name="analytics-rest-usage"),
]
