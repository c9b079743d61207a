"""OpenAI-compatible endpoints, mounted at /v1/ (outside the /api/v1/ contract)."""

from django.urls import path

from .openai_compat import ImageEditsView

app_name = "openai"

urlpatterns = [
    path("images/edits", ImageEditsView.as_view(), name="image-edits"),
]
