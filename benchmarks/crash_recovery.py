"""What a person sees when a worker machine dies: how long until its compositions end.

    .venv/bin/python benchmarks/crash_recovery.py         # writes benchmarks/results/crash.md

The scenario from issue 11, on the embedded profile with the shipped defaults (lease 60 s,
heartbeat 20 s, the sweep scheduled every minute by django-q2's scheduler, not called by hand):
a Gemini stand-in on loopback whose first two calls hang, eight compositions of one workspace
(its plan runs two at a time, so two provider calls are in flight and six wait), a SIGKILL of
every process of the `qcluster`, a fresh `qcluster` two seconds later. It measures the time
from the crash until each composition ends, how each ended, the provider calls per composition
against its attempts, and the charges per composition. The last line is machine-readable.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="bananasite-crash-"))
COUNT = 8
LIMIT = 600  # seconds to wait for every composition to end before giving up


def _database_url() -> str:
    """SQLite in a temporary folder, or a fresh database on the PostgreSQL of DATABASE_URL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return f"sqlite:///{WORK / 'db.sqlite3'}"
    import psycopg

    base, _, _name = url.rpartition("/")
    name = f"bench_crash_{os.getpid()}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


def main() -> dict:
    from compositions.tests.fakes import FakeProvider, Reply, gemini_ok, png

    fake = FakeProvider()
    ok = gemini_ok(png((30, 160, 90), (64, 64)))
    fake.script(Reply(200, ok, delay=900), Reply(200, ok, delay=900), Reply(200, ok))
    env = {
        "DATABASE_URL": _database_url(),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "MEDIA_ROOT": str(WORK / "media"),
        "GEMINI_API_KEY": "bench",
        "GEMINI_BASE_URL": fake.url,
        "BANANASITE_WORKERS": "2",
        "DJANGO_SETTINGS_MODULE": "bananasite.settings",
    }
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command

    from accounts.services import create_user
    from billing.models import LedgerEntry
    from billing.services import grant_credits, open_wallet
    from compositions.models import Composition
    from compositions.tests.factories import compose

    call_command("migrate", verbosity=0)
    user = create_user(email="crash@example.com", password=None)
    wallet = open_wallet(workspace=user.current_workspace)
    grant_credits(wallet=wallet, amount=1000, reason="benchmark")

    def cluster(n: int) -> subprocess.Popen:
        log = (WORK / f"qcluster-{n}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    first = cluster(1)
    made = [
        compose(user, prompt=f"crash {i}", model="nano-banana-2", image_size="1K")
        for i in range(COUNT)
    ]
    while len(fake.requests) < 2:
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    crashed = time.monotonic()
    time.sleep(2)
    second = cluster(2)
    ended: dict[str, float] = {}
    try:
        while len(ended) < COUNT and time.monotonic() - crashed < LIMIT:
            for composition in Composition.objects.filter(pk__in=[c.pk for c in made]):
                if composition.is_finished and composition.public_id not in ended:
                    ended[composition.public_id] = time.monotonic() - crashed
            time.sleep(0.5)
    finally:
        second.terminate()
        second.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(second.pid, signal.SIGKILL)
        fake.close()
    rows = []
    for composition in Composition.objects.filter(pk__in=[c.pk for c in made]).order_by("pk"):
        calls = sum(composition.prompt in json.dumps(r["json"]) for r in fake.requests)
        kinds = sorted(
            LedgerEntry.objects.filter(composition_ref=composition.public_id).values_list(
                "kind", flat=True
            )
        )
        rows.append(
            {
                "id": composition.public_id,
                "status": composition.status,
                "seconds_after_crash": round(ended.get(composition.public_id, -1), 1),
                "attempts": composition.attempts,
                "provider_calls": calls,
                "captures": kinds.count("capture"),
                "releases": kinds.count("release"),
            }
        )
    return {
        "broker": "redis" if env["REDIS_URL"] else "orm",
        "database": env["DATABASE_URL"].split(":")[0],
        "compositions": COUNT,
        "all_ended": len(ended) == COUNT,
        "last_ended_seconds": round(max(ended.values(), default=-1), 1),
        "calls_within_attempts": all(r["provider_calls"] <= r["attempts"] for r in rows),
        "charged_at_most_once": all(r["captures"] <= 1 and r["releases"] == 1 for r in rows),
        "rows": rows,
    }


if __name__ == "__main__":
    result = main()
    lines = [
        "# Crash recovery (benchmarks/crash_recovery.py)",
        "",
        f"Broker {result['broker']}, database {result['database']}, shipped defaults. "
        f"All ended: {result['all_ended']}; the last {result['last_ended_seconds']} s after the "
        f"crash. Provider calls within attempts: {result['calls_within_attempts']}. Charged at "
        f"most once: {result['charged_at_most_once']}.",
        "",
        "| composition | status | ended after crash (s) | attempts | provider calls | captures |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['id']} | {r['status']} | {r['seconds_after_crash']} | {r['attempts']} | "
            f"{r['provider_calls']} | {r['captures']} |"
            for r in result["rows"]
        ),
    ]
    out = ROOT / "benchmarks" / "results" / f"crash-{result['broker']}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
