"""`manage.py models`: the catalogue as this deployment serves it; `--check` asks each
configured provider whether each of its models answers, where a call that costs nothing exists:

- gemini: `GET /v1beta/models/{model}` (the Gemini API's models.get): 200 answers, 404 gone.
- openrouter: `GET /api/v1/models`, once: the model's slug must be in the list.
- local: the compositor in this process always answers.
- vertex, runware, aimlapi: no free per-model call is documented; reported as not checked.
"""

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from compositions.catalog import known_models
from compositions.providers.http import ProviderHTTP
from compositions.providers.remote import normalise_base_url

from .providers import VERSION_PATHS

DEFAULT_HOSTS = {
    "gemini": "https://generativelanguage.googleapis.com",
    "openrouter": "https://openrouter.ai",
}
NOT_CHECKED = "not checked (no free per-model call for this provider)"


class Command(BaseCommand):
    help = "List the model catalogue; with --check, ask each provider whether each model answers."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="One cheap call per provider model."
        )

    def handle(self, *args: Any, check: bool, **options: Any) -> None:
        self.openrouter_ids: set[str] | None = None
        for model in known_models():
            state = model.lifecycle.replace("_", " ")
            if model.shutdown_date:
                state += f", shutdown {model.shutdown_date.isoformat()}"
            if model.successor:
                state += f", successor {model.successor}"
            aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
            self.stdout.write(f"{model.id}{aliases}: {model.name}; {state}")
            for route in model.routes:
                line = (
                    f"  {route.provider}: {route.provider_model}, up to {route.max_images} images"
                )
                if check:
                    line += f": {self.check_model(route.provider, route.provider_model)}"
                self.stdout.write(line)
            if not model.routes:
                self.stdout.write("  not served (shut down)")

    def check_model(self, provider: str, provider_model: str) -> str:
        if provider == "local":
            return "answers (local compositor)"
        conf = settings.BANANASITE_PROVIDERS.get(provider, {})
        if provider not in DEFAULT_HOSTS:
            return NOT_CHECKED
        base = normalise_base_url(
            conf.get("base_url") or DEFAULT_HOSTS[provider], VERSION_PATHS[provider]
        )
        key = conf.get("api_key", "")
        http = ProviderHTTP(provider, secrets=(key,), max_attempts=1, timeout=15)
        try:
            if provider == "gemini":
                response = http.client.get(
                    f"{base}/v1beta/models/{provider_model}", headers={"x-goog-api-key": key}
                )
                if response.status_code == 200:
                    return "answers"
                if response.status_code == 404:
                    return "NOT FOUND (404): retired or renamed?"
                return f"refused ({response.status_code})"
            if self.openrouter_ids is None:
                response = http.client.get(
                    f"{base}/api/v1/models", headers={"authorization": f"Bearer {key}"}
                )
                if response.status_code != 200:
                    return f"refused ({response.status_code})"
                data = response.json().get("data", [])
                self.openrouter_ids = {str(m.get("id")) for m in data if isinstance(m, dict)}
        except Exception as exc:  # network trouble is a result to report, not a crash
            return f"could not reach the service ({type(exc).__name__})"
        return "listed" if provider_model in self.openrouter_ids else "NOT LISTED by openrouter"
