from django.urls import path

from . import views

app_name = "references"

urlpatterns = [
    path("references/", views.library, name="library"),
    path("references/new", views.create, name="create"),
    path("references/<str:public_id>/", views.detail, name="detail"),
    path("references/<str:public_id>/images", views.add_images, name="add_images"),
    path(
        "references/<str:public_id>/images/<int:position>/remove",
        views.remove_image,
        name="remove_image",
    ),
    path("references/<str:public_id>/withdraw", views.withdraw, name="withdraw"),
    path("references/<str:public_id>/delete", views.delete, name="delete"),
]
