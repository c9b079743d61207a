from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of our authentication classes; imported here, not
        # at the top, because drf-spectacular's extensions need the apps loaded.
        from . import schema  # noqa: F401, PLC0415
