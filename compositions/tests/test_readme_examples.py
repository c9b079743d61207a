"""The README's API examples (curl and Python) run against a live server and a real worker."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from accounts.services import create_api_token
from compositions.models import Composition

README = Path(settings.BASE_DIR) / "README.md"


def example(kind: str) -> str:
    match = re.search(rf"<!-- example: {kind} -->\n```\w+\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no {kind} example"
    return match.group(1)


@pytest.fixture
def sandbox(tmp_path):
    (tmp_path / "samples").symlink_to(Path(settings.BASE_DIR) / "samples")
    return tmp_path


def run_example(kind, command, live_server, owner, sandbox):
    raw = create_api_token(workspace=owner.current_workspace, user=owner, name=kind)[1]
    script = example(kind).replace(
        "export BANANASITE_URL=http://127.0.0.1:8000 BANANASITE_TOKEN=bns_...   # your token", ""
    )
    env = {**os.environ, "BANANASITE_URL": live_server.url, "BANANASITE_TOKEN": raw}
    done = subprocess.run(
        [*command, script], cwd=sandbox, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (sandbox / "result.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return done.stdout


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_curl_example_runs(live_server, worker, owner, sandbox):
    out = run_example("curl", ["bash", "-euo", "pipefail", "-c"], live_server, owner, sandbox)
    composition = Composition.objects.get()
    assert out.strip() == f"{composition.public_id}: succeeded"
    assert composition.preset == "logo_placement"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_python_example_runs(live_server, worker, owner, sandbox):
    out = run_example("python", [sys.executable, "-c"], live_server, owner, sandbox)
    composition = Composition.objects.get()
    assert out.strip() == f"{composition.public_id} charged 1 credits"
    assert composition.status == "succeeded" and composition.aspect_ratio == "16:9"
