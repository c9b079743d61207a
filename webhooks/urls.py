from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks/new", views.create, name="create"),
    path("webhooks/<str:webhook_id>/delete", views.delete, name="delete"),
    path("deliveries/<str:delivery_id>/redeliver", views.redeliver, name="redeliver"),
]
