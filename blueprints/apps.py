from django.apps import AppConfig


class BlueprintsConfig(AppConfig):
    """Templates and their bulk runs (named so because `templates/` is Django's folder)."""

    name = "blueprints"
    verbose_name = "Templates"
