from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("workspace/retention", views.retention, name="retention"),
    path("workspace/exports/new", views.request_export, name="request_export"),
    path(
        "workspace/exports/<str:export_id>/download",
        views.download_export,
        name="download_export",
    ),
    path("account/delete", views.delete_account, name="delete_account"),
]
