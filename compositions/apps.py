from django.apps import AppConfig


class CompositionsConfig(AppConfig):
    name = "compositions"
    verbose_name = "Compositions"

    def ready(self) -> None:
        from . import checks  # noqa: F401, PLC0415  (registers the start-up checks)
