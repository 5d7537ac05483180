from django.urls import path

from security_docs import views

urlpatterns = [
    path("", views.SecuritySheetView.as_view(), name="security-sheet"),
    path("data-use.json", views.SecuritySheetJsonView.as_view(), name="security-sheet-json"),
    path("data-use.pdf", views.SecuritySheetPdfView.as_view(), name="security-sheet-pdf"),
]
