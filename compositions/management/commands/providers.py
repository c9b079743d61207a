from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from compositions.catalog import all_models, default_model
from compositions.providers.gemini import GeminiProvider
from compositions.providers.http import CircuitBreaker, ProviderHTTP
from compositions.providers.openrouter import OpenRouterProvider
from compositions.providers.remote import normalise_base_url

# A cheap authenticated call per provider that costs nothing: listing models or the key itself.
CHECKS = {
    "gemini": (
        "GET",
        "{base}/v1beta/models?pageSize=1",
        "https://generativelanguage.googleapis.com",
    ),
    "openrouter": ("GET", "{base}/api/v1/key", "https://openrouter.ai"),
}
# The version paths an operator may paste with the host (the providers' documented bases).
VERSION_PATHS = {
    "gemini": GeminiProvider.version_paths,
    "openrouter": OpenRouterProvider.version_paths,
}


class Command(BaseCommand):
    help = "List the configured providers and models; with --check, test each key where cheap."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--check", action="store_true", help="Make one cheap call per key.")

    def handle(self, *args: Any, check: bool, **options: Any) -> None:
        providers = settings.BANANASITE_PROVIDERS
        if not providers:
            self.stdout.write("No provider key is set: only the local compositor runs.")
        for name, conf in providers.items():
            state = "circuit OPEN" if CircuitBreaker(name).is_open() else "circuit closed"
            base = conf.get("base_url") or "(default host)"
            self.stdout.write(f"{name}: configured, {base}, {state}")
            if check:
                self.stdout.write(f"  key check: {self.check_key(name, conf)}")
        self.stdout.write("")
        default = default_model().id
        for model in all_models():
            routes = " -> ".join(f"{r.provider}:{r.provider_model}" for r in model.routes)
            mark = " (default)" if model.id == default else ""
            self.stdout.write(
                f"{model.id}{mark}: {routes}; up to {model.max_images} images; "
                f"sizes {', '.join(model.image_sizes)}; credits {model.credits_per_image}"
            )

    def check_key(self, name: str, conf: dict[str, Any]) -> str:
        if name not in CHECKS:
            return "no free check for this provider; a composition will tell"
        method, template, default = CHECKS[name]
        base = normalise_base_url(conf.get("base_url") or default, VERSION_PATHS[name])
        url = template.format(base=base)
        http = ProviderHTTP(name, secrets=(conf.get("api_key", ""),), max_attempts=1, timeout=15)
        headers = (
            {"x-goog-api-key": conf.get("api_key", "")}
            if name == "gemini"
            else {"authorization": f"Bearer {conf.get('api_key', '')}"}
        )
        try:
            response = http.client.request(method, url, headers=headers)
        except Exception as exc:  # network trouble is a result to report, not a crash
            return f"could not reach the service ({type(exc).__name__})"
        if response.status_code == 200:
            return "ok"
        return f"refused ({response.status_code})"
