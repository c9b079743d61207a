from django.apps import AppConfig


class BananasiteConfig(AppConfig):
    name = "bananasite"
    verbose_name = "bananasite"

    def ready(self):
        from . import schema  # noqa: F401 (registers the OpenAPI extensions)
