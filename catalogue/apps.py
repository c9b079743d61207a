from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "catalogue"
    verbose_name = "Model catalogue"

    def ready(self) -> None:
        from . import signals  # noqa: F401, PLC0415  (clears the cached catalogue on a change)
