from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("usage/", views.usage, name="usage"),
    path("buy/", views.buy, name="buy"),
    path("stripe/webhook", views.stripe_webhook, name="stripe_webhook"),
]
