from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import blueprints as tpl
from . import views as api
from .problems import not_found

app_name = "api"

urlpatterns = [
    path("me", api.MeView.as_view(), name="me"),
    path("models", api.ModelsView.as_view(), name="models"),
    path("uploads", api.UploadsView.as_view(), name="uploads"),
    path("uploads/<str:upload_id>", api.UploadDetailView.as_view(), name="upload"),
    path("compositions", api.CompositionsView.as_view(), name="compositions"),
    path(
        "compositions/<str:composition_id>",
        api.CompositionDetailView.as_view(),
        name="composition",
    ),
    path("compositions/<str:composition_id>/cancel", api.CancelView.as_view(), name="cancel"),
    path(
        "compositions/<str:composition_id>/variations",
        api.VariationsView.as_view(),
        name="variations",
    ),
    path(
        "compositions/<str:composition_id>/retry",
        api.FreeRetryView.as_view(),
        name="free-retry",
    ),
    path("estimate", api.EstimateView.as_view(), name="estimate"),
    re_path(
        r"^results/(?P<result_id>[^/]+)/(?P<variant>file|thumbnail)$",
        api.ResultFileView.as_view(),
        name="result-file",
    ),
    path("reports", api.ReportsView.as_view(), name="reports"),
    path("references", api.ReferencesView.as_view(), name="references"),
    path("references/<str:reference_id>", api.ReferenceDetailView.as_view(), name="reference"),
    path("verify", api.VerifyView.as_view(), name="verify"),
    path("usage", api.UsageView.as_view(), name="usage"),
    path("webhooks", api.WebhooksView.as_view(), name="webhooks"),
    path("webhooks/<str:webhook_id>", api.WebhookDetailView.as_view(), name="webhook"),
    path("templates", tpl.TemplatesView.as_view(), name="templates"),
    path("templates/<str:template_id>", tpl.TemplateDetailView.as_view(), name="template"),
    path("templates/<str:template_id>/runs", tpl.TemplateRunsView.as_view(), name="template-runs"),
    path("batches", tpl.BatchesView.as_view(), name="batches"),
    path("batches/<str:batch_id>", tpl.BatchDetailView.as_view(), name="batch"),
    path("batches/<str:batch_id>/rows", tpl.BatchRowsView.as_view(), name="batch-rows"),
    path("batches/<str:batch_id>/cancel", tpl.BatchCancelView.as_view(), name="batch-cancel"),
    path("batches/<str:batch_id>/archive", tpl.BatchArchiveView.as_view(), name="batch-archive"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", not_found),
]
