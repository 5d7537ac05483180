from django.urls import path

from security_docs import views

urlpatterns = [
    path("", views.SecuritySheetView.as_view(), name="security-sheet"),
]
