from django.urls import path

from . import views

app_name = "compositions"

urlpatterns = [
    path("compose/", views.compose, name="compose"),
    path("history/", views.history, name="history"),
    path("c/<str:public_id>/", views.detail, name="detail"),
    path("c/<str:public_id>/progress", views.progress, name="progress"),
    path("c/<str:public_id>/cancel", views.cancel, name="cancel"),
    path("c/<str:public_id>/delete", views.delete, name="delete"),
    path("c/<str:public_id>/variations", views.variations, name="variations"),
    path(
        "r/<str:public_id>/<str:variant>",
        views.result_file,
        name="result_file",
    ),
    path("u/<str:public_id>/<str:variant>", views.upload_file, name="upload_file"),
]
