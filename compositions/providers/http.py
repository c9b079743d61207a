"""The one HTTP layer every provider client uses: timeouts, retries, size caps, redaction, and a
circuit breaker per provider.

Retries: connect errors, timeouts, 408, 429 and 5xx only, with capped exponential backoff and
jitter, honouring Retry-After (or Gemini's RetryInfo.retryDelay, passed in by the client), inside
a bounded total time and the caller's deadline. 400, 401, 402 and 403 are never retried.

The circuit breaker counts failed calls, not failed compositions: every call that got no answer
or a retryable error status counts, and once the circuit opens no call of any composition is
retried, so an outage costs a few calls rather than a few calls per composition.
"""

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

from bananasite.errors import AppError
from bananasite.fetch import safe_request

from .base import ProviderError, ProviderTimeout, ProviderUnavailable

logger = logging.getLogger(__name__)

RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
MAX_BODY = 96 * 1024 * 1024  # four base64 4K images fit; a runaway body does not


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    data: object  # parsed JSON, or None when the body was not JSON
    text: str


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def parse_duration(value: object) -> float | None:
    """Google's protobuf Duration in JSON: "57.238747106s"."""
    if isinstance(value, str) and (match := re.fullmatch(r"\s*([\d.]+)s\s*", value)):
        return float(match.group(1))
    return None


class ProviderHTTP:
    def __init__(
        self,
        provider: str,
        *,
        secrets: tuple[str, ...] = (),
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_attempts: int = 4,
        total_budget: float = 300.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.secrets = tuple(s for s in secrets if s)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self.total_budget = total_budget
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.breaker = CircuitBreaker(provider)
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout), transport=transport
        )

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def _read(self, response: httpx.Response, ends: float) -> Answer:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_BODY:
                raise ProviderError(
                    "The image service sent an answer too large to accept.",
                    detail=f"{self.provider}: body over {MAX_BODY} bytes",
                )
            if time.monotonic() > ends:
                raise ProviderTimeout(detail=f"{self.provider}: out of time reading the answer")
        text = body.decode("utf-8", errors="replace")
        try:
            data = json.loads(text) if text.strip() else None
        except ValueError:
            data = None
        return Answer(response.status_code, response.headers, data, text)

    def _attempt(
        self,
        url: str,
        headers: dict[str, str],
        json_body: Any,
        *,
        ends: float,
        method: str = "POST",
    ) -> Answer | ProviderError:
        """One POST: the answer, whatever its status, or the error for a call that got none.
        Its timeouts are the client's, cut to the time left before `ends`."""
        left = max(0.001, ends - time.monotonic())
        timeout = httpx.Timeout(min(self.timeout, left), connect=min(self.connect_timeout, left))
        try:
            with self.client.stream(
                method, url, headers=headers, json=json_body, timeout=timeout
            ) as response:
                return self._read(response, ends)
        except httpx.TimeoutException as exc:
            return ProviderTimeout(detail=f"{self.provider}: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return ProviderUnavailable(detail=f"{self.provider}: {type(exc).__name__}")

    def _record(self, outcome: Answer | ProviderError, *, cut_short: bool) -> None:
        """Tell the circuit how the call went. A timeout we imposed (the deadline left less
        than the client's own timeout) says nothing about the provider."""
        if isinstance(outcome, Answer):
            if outcome.status in RETRY_STATUSES:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()  # it answered: up, whatever it said
        elif not (cut_short and isinstance(outcome, ProviderTimeout)):
            self.breaker.record_failure()

    def post(
        self,
        url: str,
        *,
        headers: dict[str, str],
        json_body: Any,
        retry_delay_hint: Callable[[Answer], float | None] | None = None,
        deadline: float | None = None,
    ) -> Answer:
        """POST with retries; returns the final answer (which may be an error status).

        Every call, retry and backoff ends by `deadline` (a time.monotonic() instant) and the
        client's total budget; a retry or a wait that would pass it is not made, and a call
        cut off by it raises ProviderTimeout."""
        ends = time.monotonic() + self.total_budget
        if deadline is not None:
            ends = min(ends, deadline)
        attempt = 0
        while True:
            left = ends - time.monotonic()
            if left <= 0:
                raise ProviderTimeout(detail=f"{self.provider}: out of time before a call")
            attempt += 1
            outcome = self._attempt(url, headers, json_body, ends=ends)
            self._record(outcome, cut_short=left < self.timeout)
            wait = None
            if isinstance(outcome, Answer):
                if outcome.status not in RETRY_STATUSES:
                    return outcome
                wait = parse_retry_after(outcome.headers.get("retry-after"))
                if wait is None and retry_delay_hint:
                    wait = retry_delay_hint(outcome)
            backoff = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
            delay = wait if wait is not None else backoff * random.uniform(0.5, 1.0)  # noqa: S311
            remaining = ends - time.monotonic()
            # An open circuit (this call's failure may have opened it, or another
            # composition's) ends the retries: the next route takes over at once.
            if attempt >= self.max_attempts or delay >= remaining or self.breaker.is_open():
                if isinstance(outcome, ProviderError):
                    raise outcome
                return outcome  # the caller maps the last error status
            logger.info(
                "%s: attempt %s failed (%s), retrying in %.1fs",
                self.provider,
                attempt,
                outcome.status if isinstance(outcome, Answer) else type(outcome).__name__,
                delay,
            )
            count_retry(self.provider)
            self.sleep(delay)

    def get(self, url: str, *, headers: dict[str, str], timeout: float = 30) -> Answer:
        """One GET (a status poll), no retries: the next scheduled poll is the retry."""
        ends = time.monotonic() + min(timeout, self.total_budget)
        outcome = self._attempt(url, headers, None, ends=ends, method="GET")
        self._record(outcome, cut_short=False)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    def get_bytes(
        self, url: str, *, max_bytes: int = MAX_BODY, deadline: float | None = None
    ) -> bytes:
        """Download an image a provider answered with by URL (through the SSRF-safe fetcher)."""
        try:
            fetched = safe_request("GET", url, max_bytes=max_bytes, timeout=60, deadline=deadline)
        except AppError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                raise ProviderTimeout(detail=f"{self.provider}: download out of time") from None
            raise ProviderUnavailable(
                detail=f"{self.provider}: download failed: {exc.message}"
            ) from None
        if fetched.status != 200:
            raise ProviderUnavailable(detail=f"{self.provider}: download answered {fetched.status}")
        return fetched.content


def retries_key(provider: str) -> str:
    return f"retries:{provider}"


def count_retry(provider: str) -> None:
    """One more retried provider call, counted in the cache every process shares (like the
    circuit), so /metrics agrees whichever process answers; a cache flush restarts the count,
    which Prometheus reads as a counter reset."""
    key = retries_key(provider)
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between the add and the incr
        cache.add(key, 1, timeout=None)


class CircuitBreaker:
    """Per provider: after `threshold` failed calls in a row (BANANASITE_CIRCUIT_THRESHOLD) the
    circuit opens for `cooldown` seconds (BANANASITE_CIRCUIT_COOLDOWN_SECONDS), during which
    no call goes out and no call is retried; then one probe is let through, and its outcome
    closes or reopens the circuit. State lives in the cache, which every web and worker process
    shares (Redis, or the database cache in the embedded profile)."""

    def __init__(
        self, provider: str, *, threshold: int | None = None, cooldown: float | None = None
    ) -> None:
        self.provider = provider
        self.threshold = threshold or settings.BANANASITE_CIRCUIT_THRESHOLD
        self.cooldown = cooldown or settings.BANANASITE_CIRCUIT_COOLDOWN_SECONDS
        self.key = f"circuit:{provider}"

    def is_open(self) -> bool:
        opened_at = cache.get(f"{self.key}:opened")
        return opened_at is not None and time.time() - opened_at < self.cooldown

    def allow(self) -> bool:
        """May a call go out now? While open, no; after the cooldown, one probe at a time."""
        opened_at = cache.get(f"{self.key}:opened")
        if opened_at is None:
            return True
        if time.time() - opened_at < self.cooldown:
            return False
        return cache.add(f"{self.key}:probe", 1, timeout=int(self.cooldown))

    def record_success(self) -> None:
        keys = [f"{self.key}:failures", f"{self.key}:opened", f"{self.key}:probe"]
        # Called after every answered call: write only when there is something to forget.
        if cache.get_many(keys):
            cache.delete_many(keys)

    def record_failure(self) -> None:
        cache.add(f"{self.key}:failures", 0, timeout=3600)
        try:
            failures = cache.incr(f"{self.key}:failures")
        except ValueError:
            failures = 1
        if failures >= self.threshold or cache.get(f"{self.key}:probe"):
            cache.set(f"{self.key}:opened", time.time(), timeout=3600)
            cache.delete(f"{self.key}:probe")
            logger.warning("%s: circuit opened after %s failures", self.provider, failures)
