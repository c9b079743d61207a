"""A composition's way through the queue: enqueue → claim → … → finish, and the money and
webhooks that go with each end.

Every end (succeeded, failed, canceled) goes through `_finished`: the money is settled, the
workspace's webhooks are told, and the workspace's next queued composition is started, all in
the transaction that changed the status."""

import threading
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from bananasite.errors import InvalidState
from bananasite.models import increment_counter
from bananasite.tasks import enqueue_on_commit
from billing.services import (
    Settlement,
    lock_wallet,
    release_credits,
    settle_credits,
    waive_credits,
)
from webhooks.services import emit

from .models import Composition, Result
from .serializers import CompositionOut

# The counter of compositions the sweep gave back to the queue after their lease ran out.
LEASE_RECOVERIES = "lease_recoveries"


def enqueue_composition(composition: Composition) -> None:
    """Hand the composition to a worker once the transaction that queued it has committed."""
    enqueue_on_commit(
        "compositions.tasks.run_composition",
        composition.public_id,
        group="compositions",
        task_name=f"compose {composition.public_id}",
    )


def start_next_in_workspace(*, workspace_id: int) -> None:
    """A slot may have freed: hand the workspace's oldest queued composition to a worker.

    It goes to the back of the broker's queue, behind other workspaces' work: that is what
    keeps one busy workspace from starving the rest."""
    waiting = Composition.objects.next_queued(workspace_id=workspace_id)
    if waiting:
        enqueue_composition(waiting)


class Heartbeat:
    """Renews a claimed composition's lease every `BANANASITE_HEARTBEAT_SECONDS` while its
    worker lives: through preparation, the provider call and storing. A worker that dies stops
    renewing, so the sweep hands its composition to another worker once the short lease runs
    out. If a renewal finds the lease gone (re-queued after a stall, canceled, deleted),
    `lost` is set; the worker's next step then changes nothing.

    Not started for inline tasks (tests): they run inside the caller's transaction, where a
    second connection would wait on its lock."""

    def __init__(self, composition: Composition, *, token: int) -> None:
        self.composition, self.token = composition, token
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Heartbeat":
        if not settings.BANANASITE_TASKS_SYNC:
            self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(settings.BANANASITE_HEARTBEAT_SECONDS):
                if not self.composition.renew_lease(token=self.token):
                    self.lost.set()
                    return
        finally:
            connection.close()  # this thread's own connection


def claim_next(*, workspace_id: int) -> Composition | None:
    """Claim the workspace's oldest queued composition if its plan has a free slot."""
    with transaction.atomic():
        wallet = lock_wallet(workspace_id=workspace_id)
        running = Composition.objects.filter(
            workspace_id=workspace_id, status__in=Composition.ACTIVE
        ).count()
        if running >= wallet.plan.concurrent_compositions:
            return None
        waiting = Composition.objects.next_queued(workspace_id=workspace_id)
        if waiting and waiting.claim():
            return waiting
    return None


def _finished(composition: Composition, settlement: Settlement, event: str) -> None:
    """The tail of every end; call inside the transaction that changed the status, after
    `lock_wallet` (one lock order everywhere: the wallet, then the composition, as a claim
    takes them; the other order deadlocks against a claim on PostgreSQL)."""
    composition.record_settlement(charged=settlement.charged, refunded=settlement.refunded)
    emit(
        workspace_id=composition.workspace_id,
        event=event,
        data=lambda: CompositionOut(composition).data,
    )
    start_next_in_workspace(workspace_id=composition.workspace_id)


def _release(composition: Composition, outcome: str) -> Settlement:
    return release_credits(
        workspace_id=composition.workspace_id,
        composition_ref=composition.public_id,
        held=composition.credits_reserved,
        outcome=outcome,
        user_id=composition.created_by_id,
    )


def earlier_copies(composition: Composition, results: list[Result]) -> dict[str, str]:
    """Which of these results repeat, byte for byte, an image that an earlier composition of
    the workspace made from the same inputs (the same photos in the same order, the same prompt
    and options) and that the workspace still has: sha256 → that composition's public id."""
    digests = {result.sha256 for result in results}
    inputs = list(composition.inputs.order_by("position").values_list("upload__sha256", flat=True))
    copies: dict[str, str] = {}
    earlier = (
        Composition.objects.filter(
            workspace_id=composition.workspace_id,
            status=Composition.Status.SUCCEEDED,
            results__sha256__in=digests,
            prompt=composition.prompt,
            preset=composition.preset,
            style=composition.style,
            model=composition.model,
            aspect_ratio=composition.aspect_ratio,
            image_size=composition.image_size,
        )
        .exclude(pk=composition.pk)
        .distinct()
        .order_by("created_at", "pk")
    )
    for candidate in earlier:
        # Model options (search grounding, the thinking level) change what a model makes; they
        # are compared here, not in SQL, since JSON equality differs between the databases.
        if candidate.model_options != composition.model_options:
            continue
        theirs = candidate.inputs.order_by("position").values_list("upload__sha256", flat=True)
        if list(theirs) != inputs:
            continue
        for digest in candidate.results.filter(sha256__in=digests).values_list("sha256", flat=True):
            copies.setdefault(digest, candidate.public_id)
        if len(copies) == len(digests):
            break
    return copies


def _search_charge(composition: Composition, usage: dict) -> dict[str, int]:
    """Search grounding's part of the settlement: the searches the provider reported (one when
    it reports no count), at the price held, capped at the one search held for."""
    if not composition.model_options.get("grounding"):
        return {}
    reported = usage.get("searches")
    return {
        "search_hold": composition.credits_per_search,
        "searches": int(reported) if isinstance(reported, int) else 1,
        "credits_per_search": composition.credits_per_search,
    }


def succeed_composition(
    *,
    composition: Composition,
    token: int,
    results: list[Result],
    text: str,
    usage: dict,
    request_id: str,
) -> bool:
    """Mark a stored composition succeeded with its results and charge what was delivered.
    An image identical to one an earlier composition made from the same inputs is not charged
    again (a plain note on the composition says so). False if it was canceled, deleted or taken
    over meanwhile (the caller removes the files)."""
    # Read before the wallet's lock, which every claim and settlement of the workspace waits on:
    # the earlier compositions compared with are finished and do not change.
    copies = earlier_copies(composition, results)
    with transaction.atomic():
        lock_wallet(workspace_id=composition.workspace_id)
        new = [result for result in results if result.sha256 not in copies]
        if copies:
            names = ", ".join(sorted(set(copies.values())))
            which = f"{len(results) - len(new)} of {len(results)} images" if new else "Identical"
            note = f"{which}{' identical' if new else ''} to {names}: not charged."
            text = f"{text}\n\n{note}" if text else note
        if not composition.succeed(token=token, text=text, usage=usage, request_id=request_id):
            return False
        Result.objects.bulk_create(results)
        if copies and not new:
            settlement = waive_credits(
                workspace_id=composition.workspace_id,
                composition_ref=composition.public_id,
                held=composition.credits_reserved,
                reason=f"Not charged: identical to {names}",
                user_id=composition.created_by_id,
            )
        else:
            settlement = settle_credits(
                workspace_id=composition.workspace_id,
                composition_ref=composition.public_id,
                held=composition.credits_reserved,
                requested_images=composition.num_images,
                delivered_images=len(new),
                user_id=composition.created_by_id,
                **_search_charge(composition, usage),
            )
        _finished(composition, settlement, "composition.succeeded")
    return True


def fail_composition(
    *,
    composition: Composition,
    code: str,
    message: str,
    from_statuses: Sequence[str] | None = None,
    token: int | None = None,
    expired_only: bool = False,
) -> bool:
    """Fail an unfinished composition and give back its whole hold, or do nothing. A worker
    passes its lease token; the sweep fails only a lease that has really expired."""
    with transaction.atomic():
        lock_wallet(workspace_id=composition.workspace_id)
        if not composition.fail(
            code=code,
            message=message,
            from_statuses=from_statuses,
            token=token,
            extra=Q(lease_expires_at__lt=timezone.now()) if expired_only else None,
        ):
            return False
        _finished(composition, _release(composition, "failed"), "composition.failed")
    return True


def cancel_composition(*, composition: Composition) -> Composition:
    """Cancel an unfinished composition and give back its hold. A running worker sees the
    cancel at its next step and discards its work."""
    with transaction.atomic():
        lock_wallet(workspace_id=composition.workspace_id)
        batch = composition.provider_request_id
        was_batched = composition.status == Composition.Status.BATCHED
        if not composition.cancel():
            raise InvalidState("This composition has already finished.")
        _finished(composition, _release(composition, "canceled"), "composition.canceled")
        if was_batched and batch:
            # The provider's batch job would still run (and be billed to the operator).
            enqueue_on_commit(
                "compositions.tasks.cancel_provider_batch",
                composition.provider,
                batch,
                group="batches",
            )
    return composition


def requeue_composition(*, composition: Composition) -> bool:
    """Give a composition whose worker went away back to the queue."""
    with transaction.atomic():
        if not composition.requeue():
            return False
        # Counted in the database, so every process's /metrics agrees.
        increment_counter(LEASE_RECOVERIES)
        enqueue_composition(composition)
    return True


def release_held_composition(*, composition: Composition) -> bool:
    """A moderator approved a held composition: it joins the queue."""
    with transaction.atomic():
        if not composition.release_hold():
            return False
        enqueue_composition(composition)
    return True
