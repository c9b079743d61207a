"""The site's URLs: each app's own, included by name (the site package imports no app)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("billing/", include("billing.urls")),
    path("workspace/", include("accounts.urls")),
    path("workspace/", include("webhooks.urls")),
    path("api/v1/", include("api.urls")),
    path("", include("ops.urls")),
    path("v1/", include("api.openai_urls")),  # OpenAI-compatible, outside the contract
    path("", include("moderation.urls")),
    path("", include("sharing.urls")),
    path("", include("blueprints.urls")),
    path("", include("compositions.urls")),
]
