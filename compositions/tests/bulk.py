"""A workspace with many compositions, made in a few bulk inserts (10,000 in about a second)."""

from compositions.models import Composition, CompositionInput, Result, Upload

# The newest compositions get inputs and a result, as many as any first page shows.
WITH_FILES = 50


def fill_workspace(user, count: int) -> None:
    workspace = user.current_workspace
    upload = Upload.objects.create(
        workspace=workspace,
        uploaded_by=user,
        file=f"ws/{workspace.pk}/uploads/bulk.png",
        thumbnail=f"ws/{workspace.pk}/uploads/bulk-thumb.webp",
        width=64,
        height=64,
        content_type="image/png",
        bytes=100,
        sha256="0" * 64,
    )
    statuses = ["succeeded", "succeeded", "succeeded", "failed", "canceled", "queued"]
    Composition.objects.bulk_create(
        (
            Composition(
                workspace=workspace,
                created_by=user,
                prompt=f"Composition number {n}",
                model="local",
                provider="local",
                status=statuses[n % len(statuses)],
                credits_reserved=1,
            )
            for n in range(count)
        ),
        batch_size=1000,
    )
    newest = list(Composition.objects.filter(workspace=workspace).order_by("-id")[:WITH_FILES])
    CompositionInput.objects.bulk_create(
        CompositionInput(composition=c, upload=upload, position=p, role="other")
        for c in newest
        for p in (0, 1)
    )
    Result.objects.bulk_create(
        Result(
            composition=c,
            position=0,
            file=f"ws/{workspace.pk}/results/{c.public_id}.png",
            thumbnail=f"ws/{workspace.pk}/results/{c.public_id}.webp",
            width=64,
            height=64,
            content_type="image/png",
            bytes=100,
            sha256="1" * 64,
        )
        for c in newest
        if c.status == "succeeded"
    )
