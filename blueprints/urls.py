from django.urls import path

from . import views

app_name = "blueprints"

urlpatterns = [
    path("templates/", views.template_list, name="list"),
    path("templates/from/<str:composition_id>", views.save_composition, name="save"),
    path("templates/<str:template_id>", views.template_detail, name="detail"),
    path("templates/<str:template_id>/edit", views.template_edit, name="edit"),
    path("templates/<str:template_id>/run", views.template_run, name="run"),
    path("templates/<str:template_id>/bulk", views.batch_new, name="bulk"),
    path("templates/<str:template_id>/bulk.csv", views.csv_sample, name="csv-sample"),
    path("batches/<str:batch_id>", views.batch_detail, name="batch"),
    path("batches/<str:batch_id>/cancel", views.batch_cancel, name="batch-cancel"),
    path("batches/<str:batch_id>/rows/<int:number>/retry", views.row_retry, name="row-retry"),
    path("batches/<str:batch_id>/archive", views.batch_archive, name="batch-archive"),
]
