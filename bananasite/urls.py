"""The site's URLs: each app's own, included by name (the site package imports no app)."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    # The language switcher posts to i18n/setlang/; static/js reads its strings from jsi18n/.
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("billing/", include("billing.urls")),
    path("workspace/", include("accounts.urls")),
    path("workspace/", include("webhooks.urls")),
    path("api/v1/", include("api.urls")),
    path("", include("ops.urls")),
    path("v1/", include("api.openai_urls")),  # OpenAI-compatible, outside the contract
    path("", include("moderation.urls")),
    path("", include("sharing.urls")),
    path("", include("compositions.urls")),
]
