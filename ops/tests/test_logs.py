"""Every log line written while a composition runs names it, in JSON and in plain text."""

import io
import json
import logging
import logging.config

import pytest
from django.conf import settings as django_settings

from bananasite.logs import logging_config
from compositions import pipeline
from compositions.tasks import run_composition
from compositions.tests.factories import compose


@pytest.fixture
def log_to(request):
    """Configure logging as the site does (JSON or plain), writing to a buffer; restore after."""

    def configure(*, json: bool) -> io.StringIO:
        buffer = io.StringIO()
        config = logging_config(json=json, level="INFO")
        config["handlers"]["console"]["stream"] = buffer
        logging.config.dictConfig(config)
        return buffer

    yield configure
    logging.config.dictConfig(django_settings.LOGGING)


def _log_while_storing(monkeypatch):
    real = pipeline.store_results

    def store(composition, generated):
        logging.getLogger("compositions.pipeline").info("storing the results")
        return real(composition, generated)

    monkeypatch.setattr(pipeline, "store_results", store)


@pytest.mark.django_db
def test_a_json_log_line_inside_a_composition_s_run_carries_its_id(owner, log_to, monkeypatch):
    buffer = log_to(json=True)
    _log_while_storing(monkeypatch)
    composition = compose(owner)
    logging.getLogger("elsewhere").info("not about a composition")
    assert run_composition(composition.public_id) == "succeeded"

    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    storing = [line for line in lines if line["message"] == "storing the results"]
    assert len(storing) == 1
    assert storing[0]["composition"] == composition.public_id
    assert storing[0]["levelname"] == "INFO" and storing[0]["name"] == "compositions.pipeline"
    outside = [line for line in lines if line["message"] == "not about a composition"]
    assert "composition" not in outside[0]


@pytest.mark.django_db
def test_a_provider_failure_s_warning_names_the_composition_in_plain_text(
    owner, log_to, monkeypatch
):
    from compositions.providers.base import ProviderTimeout

    buffer = log_to(json=False)

    def time_out(*args, **kwargs):
        raise ProviderTimeout(detail="gave up")

    monkeypatch.setattr(pipeline, "generate", time_out)
    composition = compose(owner)
    run_composition(composition.public_id)
    warning = next(
        line for line in buffer.getvalue().splitlines() if "failed at the provider" in line
    )
    assert warning.endswith(f"composition={composition.public_id}")


@pytest.mark.django_db
def test_the_id_is_gone_once_the_run_ends(owner, log_to, monkeypatch):
    buffer = log_to(json=True)
    _log_while_storing(monkeypatch)
    composition = compose(owner)
    assert run_composition(composition.public_id) == "succeeded"
    logging.getLogger("x").warning("after")
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    during = [line for line in lines if line.get("composition") == composition.public_id]
    assert during, "the run logged nothing naming its composition"
    after = [line for line in lines if line["message"] == "after"]
    assert "composition" not in after[0]


@pytest.mark.django_db
def test_a_line_logged_in_a_pool_thread_names_the_composition(owner, log_to, monkeypatch):
    buffer = log_to(json=True)
    real = pipeline._prepare_one

    def prepare(*args, **kwargs):
        logging.getLogger("compositions.pipeline").info("preparing an input")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_prepare_one", prepare)
    composition = compose(owner)
    assert run_composition(composition.public_id) == "succeeded"
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    preparing = [line for line in lines if line["message"] == "preparing an input"]
    assert len(preparing) == 2
    assert {line.get("composition") for line in preparing} == {composition.public_id}


def test_a_caller_s_own_composition_extra_is_kept(log_to):
    buffer = log_to(json=True)
    logging.getLogger("x").warning("swept", extra={"composition": "cmp_given"})
    assert json.loads(buffer.getvalue())["composition"] == "cmp_given"
