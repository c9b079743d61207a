from django.urls import path, re_path

from . import views

app_name = "compositions"

urlpatterns = [
    path("", views.home, name="home"),
    path("compose/", views.compose, name="compose"),
    path("compose/uploads", views.compose_upload, name="compose_upload"),
    path(
        "compose/uploads/from-result",
        views.compose_upload_from_result,
        name="compose_upload_from_result",
    ),
    path(
        "compose/uploads/<str:public_id>/delete",
        views.compose_upload_delete,
        name="compose_upload_delete",
    ),
    path("history/", views.history, name="history"),
    path("verify/", views.verify, name="verify"),
    path("billing/usage/compositions.csv", views.usage_csv, name="usage_csv"),
    path("c/<str:public_id>/", views.detail, name="detail"),
    path("c/<str:public_id>/progress", views.progress, name="progress"),
    path("c/<str:public_id>/cancel", views.cancel, name="cancel"),
    path("c/<str:public_id>/delete", views.delete, name="delete"),
    path("c/<str:public_id>/variations", views.variations, name="variations"),
    path("c/<str:public_id>/region/<str:source_id>", views.region, name="region"),
    path("c/<str:public_id>/retry", views.free_retry, name="free_retry"),
    re_path(
        r"^r/(?P<public_id>res_\w+)/(?P<variant>image|thumb|download)$",
        views.result_file,
        name="result_file",
    ),
    re_path(
        r"^u/(?P<public_id>up_\w+)/(?P<variant>image|thumb)$",
        views.upload_file,
        name="upload_file",
    ),
]
