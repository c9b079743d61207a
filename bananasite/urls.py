"""The site's URLs: each app's own, included by name (the site package imports no app)."""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

# The admin signs in through the site's sign-in (allauth), never its own form: that one checks
# only the password and would let staff skip their second factor. Signed in but not staff: 403.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

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
    path("", include("privacy.urls")),
    path("", include("references.urls")),
    path("", include("blueprints.urls")),
    path("", include("compositions.urls")),
]
