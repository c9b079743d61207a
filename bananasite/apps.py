from django.apps import AppConfig


class BananasiteConfig(AppConfig):
    name = "bananasite"
    verbose_name = "bananasite"
