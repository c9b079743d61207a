"""The load benchmark of issue 13: both profiles driven from outside through the public API.

    .venv/bin/python benchmarks/load.py                       # both profiles, ~15 min
    .venv/bin/python benchmarks/load.py --profiles production # one of them
    .venv/bin/python benchmarks/load.py --attach URL --name production --fake-port 8899

By default it starts each profile itself, one after the other: the embedded one as `make run`
does (scripts/run-dev: gunicorn with one process, SQLite, the ORM broker, the composition and
webhooks clusters) on a fresh SQLite file, and the production one with scripts/run-production
(gunicorn, PostgreSQL, Redis, moto's S3, two composition clusters). `--attach` drives a profile
you started yourself: start it with GEMINI_API_KEY=bench GEMINI_BASE_URL=http://127.0.0.1:<fake
port> and BANANASITE_API_RATE=1000000/minute, and run this script with that profile's
environment (DATABASE_URL, REDIS_URL, storage), which it needs to create the benchmark account
and to read the compositions' timestamps.

The provider is the real Gemini client talking to a stand-in on loopback (the test suite's
FakeProvider, compositions/tests/fakes.py) whose answer waits as long as the phase asks: 0 s
(an instant provider) or 10 s. So the product runs unchanged, with no provider that could be
switched on in production, and the stand-in counts every call the product makes.

Phases, each profile:
  submit     200 compositions, 40 requests in flight, 2 small uploads each: submit latency
             (client side, p50/p95), then the whole pipeline's throughput (compositions
             finished per second from the first submit to the last `finished_at`)
  claim      20 compositions one at a time with idle workers: `started_at - enqueued_at`
  overhead   3 compositions of 14 inputs of 12 MP (JPEG), the provider taking 10 s:
             (submit start → provider_started_at) + (provider_finished_at → finished_at),
             as a percentage of the provider call (provider_started_at → provider_finished_at)
  list       10,000 compositions in the workspace (copies of a finished one, written straight
             to the database), then `GET /api/v1/compositions` (the API token) and the history
             page `/compositions/history/` (a signed-in browser session), each 100 times one
             after another (a person paging): p95, the worse of the two is the figure; and
             each 100 times 4 at a time (reported beside it, not the figure)
  calls      provider calls the stand-in received per image delivered, over submit and claim

The last line printed is machine-readable; results go to benchmarks/results/load.md and
load.json. Where two profiles give one figure (overhead, list, calls) the worse is reported.
"""

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
PY = str(ROOT / ".venv" / "bin" / "python")
BENCH_EMAIL = "load@bench.local"
SUBMITS, CONCURRENCY = 200, 40
CLAIMS = 20
OVERHEAD_RUNS, OVERHEAD_INPUTS, PROVIDER_SECONDS = 3, 14, 10.0
LIST_ROWS, LIST_REQUESTS, LIST_CONCURRENCY = 10_000, 100, 4
HISTORY_PATH = "/compositions/history/"
TARGETS = {
    "submit_p95_embedded_s": ("<=", 2.0),
    "submit_p95_production_s": ("<=", 0.5),
    "claim_p50_embedded_ms": ("<=", 60.0),
    "claim_p50_redis_ms": ("<=", 25.0),
    "throughput_embedded": (">=", 5.0),
    "throughput_production": (">=", 20.0),
    "overhead_pct": ("<=", 2.0),
    "list_p95_ms": ("<=", 100.0),
    "calls_per_image": ("==", 1.0),
}


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank: a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


# --- The helper: Django work run in a subprocess with the profile's environment ---------------


def helper(command: str, argument: str) -> None:
    """Runs in the profile's environment (one Django per process, and each profile has its own
    database), prints JSON."""
    import django
    from django.apps import apps

    if not apps.ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bananasite.settings")
        django.setup()
    from django.db import transaction

    from accounts.models import User
    from accounts.services import create_api_token, create_user
    from billing.models import Plan
    from billing.services import grant_credits, open_wallet
    from compositions.models import Composition, CompositionInput, Result

    def answer(value: object) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    if command == "serve":
        for line in sys.stdin:
            name, arg = json.loads(line)
            helper(name, arg)
        return
    if command == "setup":
        # A plan that limits nothing the benchmark does, so it measures the pipeline, not quotas.
        plan, _ = Plan.objects.update_or_create(
            code="load-benchmark",
            defaults={
                "name": "Load benchmark",
                "daily_images_per_member": 10**9,
                "monthly_images_per_workspace": 10**9,
                "max_image_size": "4K",
                "concurrent_compositions": 1000,
            },
        )
        user = User.objects.filter(email=BENCH_EMAIL).first() or create_user(
            email=BENCH_EMAIL, password=None
        )
        wallet = open_wallet(workspace=user.current_workspace)
        wallet.plan = plan
        wallet.save(update_fields=["plan"])
        grant_credits(wallet=wallet, amount=10**8, reason="load benchmark")
        _token, raw = create_api_token(workspace=user.current_workspace, user=user, name="load")
        answer({"token": raw})
    elif command == "session":
        # A signed-in browser session for the history page, made the way the test client's
        # force_login does (the profile's own session store: database or Redis).
        from django.conf import settings
        from django.test import Client

        browser = Client()
        browser.force_login(User.objects.get(email=BENCH_EMAIL))
        answer({settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value})
    elif command == "rows":
        ids = json.loads(argument)
        fields = [
            "enqueued_at",
            "started_at",
            "provider_started_at",
            "provider_finished_at",
            "stored_at",
            "finished_at",
        ]
        out = {}
        for c in Composition.objects.filter(public_id__in=ids).prefetch_related("results"):
            row = {f: (getattr(c, f).timestamp() if getattr(c, f) else None) for f in fields}
            row.update(status=c.status, attempts=c.attempts, images=len(c.results.all()))
            out[c.public_id] = row
        answer(out)
    elif command == "fill":
        # Copies of one finished composition (its inputs and result rows pointing at the same
        # files), written in bulk: what matters is the row count the list pages through.
        model_id, rows = argument.split(":")
        model = Composition.objects.get(public_id=model_id)
        inputs = list(model.inputs.all())
        result = model.results.get()
        user = User.objects.get(email=BENCH_EMAIL)
        have = Composition.objects.filter(workspace=user.current_workspace).count()
        skip = {"id", "public_id", "created_at"}
        names = [f.name for f in Composition._meta.concrete_fields if f.name not in skip]
        values = {name: getattr(model, name) for name in names}
        for start in range(have, int(rows), 1000):
            with transaction.atomic():
                batch = Composition.objects.bulk_create(
                    Composition(**values) for _ in range(min(1000, int(rows) - start))
                )
                CompositionInput.objects.bulk_create(
                    CompositionInput(
                        composition=c, upload_id=i.upload_id, position=i.position, role=i.role
                    )
                    for c in batch
                    for i in inputs
                )
                copy = {f.name: getattr(result, f.name) for f in Result._meta.concrete_fields}
                for key in ("id", "public_id", "composition", "created_at"):
                    copy.pop(key)
                Result.objects.bulk_create(Result(composition=c, **copy) for c in batch)
        count = Composition.objects.filter(workspace=user.current_workspace).count()
        answer({"count": count})


class Helper:
    """One long-lived helper process per profile (Django starts once, not at every poll):
    a command per line on its stdin, a JSON answer per line on its stdout."""

    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [PY, __file__, "--helper", "serve", ""],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, command: str, argument: str = "") -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps([command, argument]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the helper ended during {command!r} (its error is above)")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# --- Starting and stopping the profiles -------------------------------------------------------


class Profile:
    """A profile this script started (and stops), or one it was pointed at."""

    def __init__(self, name: str, url: str, env: dict[str, str], proc=None, log=None):
        self.name, self.url, self.env, self.proc, self.log = name, url, env, proc, log

    def stop(self) -> None:
        if self.proc is None:
            return
        # The scripts stop what they started on SIGTERM; wait, then make sure.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _wait_up(url: str, proc: subprocess.Popen, log: Path, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the profile ended while starting:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/v1/schema", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"the profile did not start within {limit} s:\n{log.read_text()[-3000:]}")


def start_embedded(fake_url: str, work: Path) -> Profile:
    port = os.environ.get("PORT", "8000")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'embedded.sqlite3'}",
        "MEDIA_ROOT": str(work / "media"),
        "REDIS_URL": "",
        "AWS_STORAGE_BUCKET_NAME": "",
        "PORT": port,
        **_bench_env(fake_url),
    }
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    log = work / "embedded.log"
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "run-dev")],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_up(url, proc, log)
    return Profile("embedded", url, env, proc, log)


def start_production(fake_url: str, work: Path) -> Profile:
    env_file = work / "production.env"
    env = {**os.environ, "PROFILE_ENV_FILE": str(env_file), **_bench_env(fake_url)}
    log = work / "production.log"
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "run-production")],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not env_file.exists() and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"run-production ended while starting:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    profile_env = dict(
        line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line
    )
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8001')}"
    _wait_up(url, proc, log)
    return Profile("production", url, {**env, **profile_env}, proc, log)


def _bench_env(fake_url: str) -> dict[str, str]:
    return {
        "GEMINI_API_KEY": "load-benchmark",
        "GEMINI_BASE_URL": fake_url,
        "BANANASITE_DEFAULT_MODEL": "nano-banana-2",
        "BANANASITE_API_RATE": "1000000/minute",
    }


# --- Inputs -----------------------------------------------------------------------------------


def small_jpeg(seed: int) -> bytes:
    from PIL import Image

    img = Image.effect_noise((320, 240), 40 + seed).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def photo_12mp(seed: int) -> bytes:
    """A photo-like 4000×3000 JPEG (gradients and noise, so it compresses like a photo)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:3000, 0:4000]
    base = np.stack([x / 4000 * 255, y / 3000 * 255, ((x + y) % 800) / 800 * 255], axis=-1)
    noise = rng.normal(0, 12, (3000, 4000, 1))
    arr = np.clip(base + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


# --- The phases -------------------------------------------------------------------------------


class Driver:
    def __init__(self, profile: Profile, helper: Helper, token: str):
        self.profile, self.helper = profile, helper
        self.errors: list[str] = []
        self.client = httpx.AsyncClient(
            base_url=f"{profile.url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def upload(self, data: bytes, name: str) -> str:
        answer = await self.client.post(
            "/uploads", files={"file": (name, data, "image/jpeg")}, timeout=300
        )
        if answer.status_code != 201:
            raise SystemExit(f"upload failed: {answer.status_code} {answer.text[:500]}")
        return answer.json()["id"]

    async def submit(
        self, uploads: list[str], prompt: str, *, tolerate: bool = False
    ) -> tuple[str, float, float]:
        """(id, wall-clock start, seconds taken); with `tolerate`, a refusal is counted in
        self.errors (its status and code) and its id is empty."""
        started, t0 = time.time(), time.perf_counter()
        try:
            answer = await self.client.post(
                "/compositions",
                json={
                    "prompt": prompt,
                    "model": "nano-banana-2",
                    "inputs": [{"upload": u} for u in uploads],
                },
            )
        except httpx.TransportError as exc:
            if not tolerate:
                raise
            self.errors.append(f"connection: {type(exc).__name__}")
            return "", started, time.perf_counter() - t0
        took = time.perf_counter() - t0
        if answer.status_code != 202 and tolerate:
            self.errors.append(f"{answer.status_code} {answer.text[:200]}")
            return "", started, took
        if answer.status_code != 202:
            raise SystemExit(f"submit failed: {answer.status_code} {answer.text[:500]}")
        return answer.json()["id"], started, took

    async def wait_finished(self, ids: list[str], limit: float = 900) -> dict:
        deadline = time.monotonic() + limit
        while True:
            rows = self.helper("rows", json.dumps(ids))
            if all(r["finished_at"] for r in rows.values()) and len(rows) == len(ids):
                return rows
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.profile.name}: compositions did not finish in {limit} s")
            await asyncio.sleep(0.05 if len(ids) == 1 else 1)


async def phase_submit(driver: Driver, uploads: list[str]) -> dict:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(n: int):
        async with gate:
            return await driver.submit(uploads, f"load {n}: image 1 beside image 2", tolerate=True)

    first = time.time()
    made = await asyncio.gather(*(one(n) for n in range(SUBMITS)))
    latencies = [took for _, _, took in made]
    rows = await driver.wait_finished([cid for cid, _, _ in made if cid])
    last = max(r["finished_at"] for r in rows.values())
    statuses = {s: sum(r["status"] == s for r in rows.values()) for s in ("succeeded", "failed")}
    return {
        "submit_p50_s": statistics.median(latencies),
        "submit_p95_s": pct(latencies, 95),
        "submit_max_s": max(latencies),
        "throughput_per_s": len(rows) / (last - first),
        "refused": len(driver.errors),
        "refusals": sorted(set(driver.errors))[:5],
        "pipeline_seconds": last - first,
        "statuses": statuses,
        "images": sum(r["images"] for r in rows.values()),
        "attempts": sum(r["attempts"] for r in rows.values()),
        "any_id": next(cid for cid, _, _ in made if cid),
    }


async def phase_claim(driver: Driver, uploads: list[str]) -> dict:
    waits, images = [], 0
    for n in range(CLAIMS):
        cid, _, _ = await driver.submit(uploads, f"claim {n}: image 1 beside image 2")
        row = (await driver.wait_finished([cid]))[cid]
        waits.append((row["started_at"] - row["enqueued_at"]) * 1000)
        images += row["images"]
        await asyncio.sleep(0.3)  # workers idle again, polling
    return {
        "claim_p50_ms": statistics.median(waits),
        "claim_p95_ms": pct(waits, 95),
        "images": images,
    }


async def phase_overhead(driver: Driver, photos: list[bytes]) -> dict:
    t0 = time.perf_counter()
    uploads = [await driver.upload(data, f"photo-{n}.jpg") for n, data in enumerate(photos)]
    upload_s = (time.perf_counter() - t0) / len(photos)
    runs = []
    for n in range(OVERHEAD_RUNS):
        cid, started, took = await driver.submit(uploads, f"overhead {n}: all of these together")
        row = (await driver.wait_finished([cid], limit=300))[cid]
        call = row["provider_finished_at"] - row["provider_started_at"]
        before = row["provider_started_at"] - started
        after = row["finished_at"] - row["provider_finished_at"]
        runs.append(
            {
                "submit_s": took,
                "before_call_s": before,
                "call_s": call,
                "after_call_s": after,
                "store_s": row["stored_at"] - row["provider_finished_at"],
                "overhead_pct": (before + after) / call * 100,
            }
        )
    return {
        "upload_s_each": upload_s,
        "runs": runs,
        "overhead_pct": statistics.median(r["overhead_pct"] for r in runs),
    }


async def phase_list(driver: Driver, any_id: str) -> dict:
    filled = driver.helper("fill", f"{any_id}:{LIST_ROWS}")
    browser = httpx.AsyncClient(
        base_url=driver.profile.url, cookies=driver.helper("session"), timeout=120
    )

    async def one(client: httpx.AsyncClient, path: str) -> float:
        t0 = time.perf_counter()
        answer = await client.get(path)
        took = time.perf_counter() - t0
        listed = (
            answer.json().get("results")
            if path == "/compositions"
            else 'class="card' in answer.text
        )
        if answer.status_code != 200 or not listed:
            raise SystemExit(f"{path} failed: {answer.status_code} {answer.text[:300]}")
        return took * 1000

    async def together(client: httpx.AsyncClient, path: str) -> list[float]:
        gate = asyncio.Semaphore(LIST_CONCURRENCY)

        async def gated() -> float:
            async with gate:
                return await one(client, path)

        return list(await asyncio.gather(*(gated() for _ in range(LIST_REQUESTS))))

    out: dict = {"rows": filled["count"]}
    try:
        for name, client, path in (
            ("api", driver.client, "/compositions"),
            ("history", browser, HISTORY_PATH),
        ):
            await one(client, path)  # the first request of a connection and a session
            alone = [await one(client, path) for _ in range(LIST_REQUESTS)]
            four = await together(client, path)
            out[name] = {
                "p50_ms": statistics.median(alone),
                "p95_ms": pct(alone, 95),
                "p50_ms_4": statistics.median(four),
                "p95_ms_4": pct(four, 95),
            }
    finally:
        await browser.aclose()
    out["list_p95_ms"] = max(out["api"]["p95_ms"], out["history"]["p95_ms"])
    return out


async def measure(profile: Profile, fake) -> dict:
    from compositions.tests.fakes import Reply, gemini_ok, png

    ok = gemini_ok(png((30, 160, 90), (64, 64)))
    helper = Helper(profile.env)
    token = helper("setup")["token"]
    driver = Driver(profile, helper, token)
    out: dict = {"profile": profile.name}
    try:
        small = [await driver.upload(small_jpeg(n), f"small-{n}.jpg") for n in range(2)]
        fake.script(Reply(200, ok))
        print(f"[{profile.name}] submit: {SUBMITS} compositions, {CONCURRENCY} in flight")
        out["submit"] = await phase_submit(driver, small)
        print(f"[{profile.name}]   {json.dumps(out['submit'])}")
        print(f"[{profile.name}] claim: {CLAIMS} compositions one at a time")
        out["claim"] = await phase_claim(driver, small)
        print(f"[{profile.name}]   {json.dumps(out['claim'])}")
        calls = len(fake.requests)
        delivered = out["submit"]["images"] + out["claim"]["images"]
        out["calls_per_image"] = calls / delivered if delivered else float("inf")
        print(f"[{profile.name}]   calls_per_image={out['calls_per_image']:.3f}")
        print(f"[{profile.name}] overhead: {OVERHEAD_RUNS} × {OVERHEAD_INPUTS} inputs of 12 MP")
        photos = [photo_12mp(n) for n in range(OVERHEAD_INPUTS)]
        fake.script(Reply(200, ok, delay=PROVIDER_SECONDS))
        out["overhead"] = await phase_overhead(driver, photos)
        print(f"[{profile.name}]   {json.dumps(out['overhead'])}")
        print(f"[{profile.name}] list: {LIST_ROWS} compositions in the workspace")
        out["list"] = await phase_list(driver, out["submit"]["any_id"])
        print(f"[{profile.name}]   {json.dumps(out['list'])}")
    finally:
        await driver.client.aclose()
        helper.close()
    return out


# --- Reporting --------------------------------------------------------------------------------


def figures(results: dict) -> dict[str, float | None]:
    emb, prod = results.get("embedded"), results.get("production")

    def worst(key, pick):
        values = [pick(r) for r in (emb, prod) if r]
        return max(values) if values else None

    return {
        "submit_p95_embedded_s": emb and emb["submit"]["submit_p95_s"],
        "submit_p95_production_s": prod and prod["submit"]["submit_p95_s"],
        "claim_p50_embedded_ms": emb and emb["claim"]["claim_p50_ms"],
        "claim_p50_redis_ms": prod and prod["claim"]["claim_p50_ms"],
        "throughput_embedded": emb and emb["submit"]["throughput_per_s"],
        "throughput_production": prod and prod["submit"]["throughput_per_s"],
        "overhead_pct": worst("overhead", lambda r: r["overhead"]["overhead_pct"]),
        "list_p95_ms": worst("list", lambda r: r["list"]["list_p95_ms"]),
        "calls_per_image": worst("calls", lambda r: r["calls_per_image"]),
    }


def meets(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    op, target = TARGETS[name]
    ok = {"<=": value <= target, ">=": value >= target, "==": abs(value - target) < 1e-9}[op]
    return "met" if ok else "MISSED"


def fmt(value: float | None) -> str:
    return "na" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def write_results(results: dict, figs: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (RESULTS / "load.json").write_text(
        json.dumps({"when": stamp, "figures": figs, "profiles": results}, indent=2) + "\n"
    )
    lines = [
        "# Load benchmark (issue 13)",
        "",
        f"`.venv/bin/python benchmarks/load.py`, {stamp}, {os.cpu_count()} cores (shared with"
        " other work: figures move between runs). Method and phases: the docstring of"
        " `benchmarks/load.py`. Raw numbers: `load.json`.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
    ]
    for name, value in figs.items():
        op, target = TARGETS[name]
        lines.append(f"| `{name}` | {fmt(value)} | {op} {target:g} | {meets(name, value)} |")
    lines += ["", "## Per profile", ""]
    for name, r in results.items():
        s, c, o, li = r["submit"], r["claim"], r["overhead"], r["list"]
        lines += [
            f"### {name}",
            "",
            f"- submit ({SUBMITS}, {CONCURRENCY} in flight): p50 {s['submit_p50_s']:.3f} s,"
            f" p95 {s['submit_p95_s']:.3f} s, max {s['submit_max_s']:.3f} s",
            f"- whole pipeline: {s['throughput_per_s']:.2f} compositions/s"
            f" ({SUBMITS} in {s['pipeline_seconds']:.1f} s; {s['statuses']};"
            f" refused at submit: {s['refused']} {s['refusals']})",
            f"- enqueue → claimed ({CLAIMS}, idle workers): p50 {c['claim_p50_ms']:.1f} ms,"
            f" p95 {c['claim_p95_ms']:.1f} ms",
            f"- overhead around a {PROVIDER_SECONDS:g} s call, {OVERHEAD_INPUTS} × 12 MP"
            f" (uploaded first, {o['upload_s_each']:.2f} s each): "
            + "; ".join(
                f"submit {x['submit_s']:.2f} s, before the call {x['before_call_s']:.2f} s,"
                f" after {x['after_call_s']:.2f} s ({x['overhead_pct']:.1f} %)"
                for x in o["runs"]
            )
            + f"; median {o['overhead_pct']:.1f} %",
            f"- `GET /api/v1/compositions` with {li['rows']} compositions, one at a time:"
            f" p50 {li['api']['p50_ms']:.1f} ms, p95 {li['api']['p95_ms']:.1f} ms"
            f" (4 at a time: p50 {li['api']['p50_ms_4']:.1f} ms,"
            f" p95 {li['api']['p95_ms_4']:.1f} ms)",
            f"- history page with {li['rows']} compositions, one at a time:"
            f" p50 {li['history']['p50_ms']:.1f} ms, p95 {li['history']['p95_ms']:.1f} ms"
            f" (4 at a time: p50 {li['history']['p50_ms_4']:.1f} ms,"
            f" p95 {li['history']['p95_ms_4']:.1f} ms)",
            f"- provider calls per delivered image: {r['calls_per_image']:.3f}",
            "",
        ]
    notes = RESULTS / "load-notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    (RESULTS / "load.md").write_text("\n".join(lines).rstrip() + "\n")


async def run(args) -> None:
    from compositions.tests.fakes import FakeProvider

    fake = FakeProvider(port=args.fake_port or 0)
    results: dict = {}
    work = Path(tempfile.mkdtemp(prefix="bananasite-load-"))
    try:
        if args.attach:
            profile = Profile(args.name, args.attach.rstrip("/"), dict(os.environ))
            results[args.name] = await measure(profile, fake)
        else:
            for name in args.profiles.split(","):
                starter = {"embedded": start_embedded, "production": start_production}[name]
                print(f"starting the {name} profile")
                profile = starter(fake.url, work)
                try:
                    results[name] = await measure(profile, fake)
                finally:
                    profile.stop()
    finally:
        fake.close()
    shutil.rmtree(work, ignore_errors=True)  # kept (logs) when something failed
    figs = figures(results)
    if not args.no_write:
        write_results(results, figs)
    print(" ".join(f"{k}={fmt(v)}" for k, v in figs.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="embedded,production")
    parser.add_argument("--attach", metavar="URL", help="drive a profile started by hand")
    parser.add_argument("--name", default="production", choices=["embedded", "production"])
    parser.add_argument("--fake-port", type=int, help="the provider stand-in's port (--attach)")
    parser.add_argument("--no-write", action="store_true", help="do not write results/")
    parser.add_argument(
        "--quick", action="store_true", help="a few of everything, to try the script; no results"
    )
    parser.add_argument("--helper", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.helper:
        helper(*args.helper)
        return
    if args.quick:
        global SUBMITS, CLAIMS, OVERHEAD_RUNS, OVERHEAD_INPUTS, PROVIDER_SECONDS
        global LIST_ROWS, LIST_REQUESTS
        SUBMITS, CLAIMS, OVERHEAD_RUNS, OVERHEAD_INPUTS, PROVIDER_SECONDS = 40, 5, 1, 2, 1.0
        LIST_ROWS, LIST_REQUESTS = 500, 20
        args.no_write = True
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
