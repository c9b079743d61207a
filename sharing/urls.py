from django.urls import path, re_path

from . import views

app_name = "sharing"

urlpatterns = [
    path("sharing/", views.collections, name="collections"),
    path("sharing/share", views.share, name="share"),
    path("sharing/links/<str:link_id>/revoke", views.revoke, name="revoke"),
    path(
        "sharing/collections/<str:collection_id>/delete",
        views.delete_collection,
        name="delete_collection",
    ),
    path(
        "sharing/collections/<str:collection_id>/remove/<str:public_id>",
        views.uncollect,
        name="uncollect",
    ),
    path("sharing/c/<str:public_id>/favourite", views.favourite, name="favourite"),
    path("sharing/c/<str:public_id>/collect", views.collect, name="collect"),
    re_path(r"^s/(?P<token>shr_[\w-]{1,96})/$", views.public, name="public"),
    re_path(
        r"^s/(?P<token>shr_[\w-]{1,96})/(?P<result_id>res_\w+)/(?P<variant>image|thumb)$",
        views.public_file,
        name="public_file",
    ),
]
