from django.contrib import admin
from django.urls import include, path

from compositions import views as composition_views

urlpatterns = [
    path("", composition_views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("billing/", include("billing.urls")),
    path("workspace/", include("accounts.urls")),
    path("api/v1/", include("compositions.api_urls")),
    path("", include("compositions.urls")),
]
