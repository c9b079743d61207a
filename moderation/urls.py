from django.urls import path

from . import views

app_name = "moderation"

urlpatterns = [
    path("c/<str:public_id>/report", views.report, name="report"),
]
