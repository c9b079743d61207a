"""Compare, lineage, ETA and queue position, history filters, usage lines against the ledger."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, Plan
from billing.usage import usage_by_day
from compositions import insight
from compositions.lifecycle import cancel_composition
from compositions.models import Composition
from compositions.services import create_variation
from compositions.tasks import run_composition
from compositions.tests.factories import compose
from compositions.views import progress_payload

pytestmark = pytest.mark.django_db


def finished(owner, **options):
    composition = compose(owner, **options)
    run_composition(composition.public_id)
    composition.refresh_from_db()
    return composition


def test_compare_offers_results_inputs_parent_and_variations(owner, owner_client):
    parent = finished(owner, prompt="parent")
    child = create_variation(source=parent, user=owner)
    run_composition(child.public_id)
    grandchild = create_variation(source=child, user=owner)
    run_composition(grandchild.public_id)
    response = owner_client.get(child.get_absolute_url())
    labels = [p.label for p in response.context["compare"]]
    assert labels[0] == "Result 1"
    assert any(label.startswith("Input: image 1") for label in labels)
    assert any(label.startswith(f"Parent {parent.public_id}") for label in labels)
    assert any(label.startswith(f"Variation {grandchild.public_id}") for label in labels)
    html = response.content.decode()
    assert 'type="range" id="wipe"' in html and "Side by side" in html
    # Lineage: the parent above, the variation below, each a link; branch from any result.
    assert response.context["lineage"] == [parent]
    assert [c.pk for c in response.context["children"]] == [grandchild.pk]
    assert parent.get_absolute_url() in html and grandchild.get_absolute_url() in html
    assert f"?from={grandchild.results.get().public_id}" in html


def test_lineage_is_bounded_and_costs_few_queries(
    owner, owner_client, django_assert_max_num_queries
):
    node = finished(owner)
    chain = [node]
    for _ in range(8):
        node = create_variation(source=node, user=owner)
        chain.append(node)
    assert len(insight.ancestors(node)) == insight.LINEAGE_DEPTH
    assert insight.ancestors(node)[-1] == chain[-2]
    with django_assert_max_num_queries(1):
        insight.ancestors(node)


def test_eta_from_measured_durations_and_queue_positions(owner, stranger):
    now = timezone.now()
    for seconds in (10, 20, 30):
        done = finished(owner)
        Composition.objects.filter(pk=done.pk).update(
            started_at=now - timedelta(seconds=seconds), finished_at=now
        )
    assert insight.typical_seconds(model="local", provider=done.provider) == 20
    Plan.objects.update(concurrent_compositions=1, daily_images_per_member=100)
    from django.test import override_settings

    with override_settings(BANANASITE_TASKS_SYNC=False):
        theirs = compose(stranger)
        first = compose(owner)
        second = compose(owner)
    first.refresh_from_db()
    second.refresh_from_db()
    payload = progress_payload(second)
    assert payload["queue_position"] == 2  # in its workspace
    assert payload["global_queue_position"] == 3  # the stranger's and mine ahead, site-wide
    assert "usually takes 20 s" in payload["eta"]
    assert progress_payload(theirs)["global_queue_position"] == 1
    # Running for 5 s of a usual 20: about 15 s left.
    Composition.objects.filter(pk=first.pk).update(
        status="generating", started_at=timezone.now() - timedelta(seconds=5)
    )
    first.refresh_from_db()
    payload = progress_payload(first)
    assert 14 <= payload["eta_seconds"] <= 15 and "left" in payload["eta"]


def test_history_filters_live_in_the_url_and_survive_pagination(owner, owner_client):
    Plan.objects.update(daily_images_per_member=100)
    for i in range(14):
        compose(owner, prompt=f"lighthouse number {i}", preset="collage")
    compose(owner, prompt="a cat and a cup")
    url = reverse("compositions:history")
    response = owner_client.get(url, {"q": "LIGHTHOUSE", "preset": "collage"})
    page = response.context["page"]
    assert page.paginator.count == 14
    html = response.content.decode()
    assert "?q=LIGHTHOUSE&amp;preset=collage&amp;page=2" in html
    assert (
        owner_client.get(url, {"q": "cat", "model": "local"}).context["page"].paginator.count == 1
    )
    assert owner_client.get(url, {"model": "nope"}).context["page"].paginator.count == 15
    today = timezone.now().date()
    assert owner_client.get(url, {"from": today.isoformat()}).context["page"].paginator.count == 15
    later = (today + timedelta(days=1)).isoformat()
    assert owner_client.get(url, {"from": later}).context["page"].paginator.count == 0
    response = owner_client.get(url, {"to": "yesterday"})
    assert "is not a date" in response.content.decode()
    assert response.context["page"].paginator.count == 15


def test_usage_lines_agree_with_the_ledger_and_the_csv(owner, owner_client):
    Plan.objects.update(daily_images_per_member=100)
    done = finished(owner, num_images=2, preset="collage")
    from django.test import override_settings

    with override_settings(BANANASITE_TASKS_SYNC=False):
        waiting = compose(owner)  # still queued: its hold is not settled
        failed_settled = compose(owner)
    cancel_composition(composition=failed_settled)
    response = owner_client.get(reverse("billing:usage"))
    lines = {line.ref: line for line in response.context["lines"]}
    assert lines[done.public_id].held == 2 and lines[done.public_id].charged == 2
    assert lines[done.public_id].returned == 0
    assert lines[failed_settled.public_id].charged == 0
    assert lines[failed_settled.public_id].returned == lines[failed_settled.public_id].held
    html = response.content.decode()
    assert not lines[waiting.public_id].settled and lines[waiting.public_id].held == 1
    assert "Collage" in html and "Ledger: every entry" in html
    # The per-composition lines add up to the ledger, and to the usage totals.
    entries = LedgerEntry.objects.filter(wallet__workspace=owner.current_workspace)
    charged = -(entries.filter(kind="capture").aggregate(s=Sum("amount"))["s"] or 0)
    assert sum(line.charged for line in lines.values()) == charged
    today = timezone.now().date()
    assert (
        sum(
            d.credits
            for d in usage_by_day(workspace=owner.current_workspace, start=today, end=today)
        )
        == charged
    )
    for line in lines.values():
        assert line.net == sum(e.amount for e in entries.filter(composition_ref=line.ref))
        if line.settled:
            assert line.net == -line.charged
    # The CSV: every composition once, the same numbers.
    csv = owner_client.get(reverse("compositions:usage_csv"))
    assert csv.streaming and csv["Content-Type"].startswith("text/csv")
    rows = b"".join(csv.streaming_content).decode().strip().splitlines()
    assert rows[0].startswith("composition,asked_at_utc")
    assert len(rows) == 1 + len(lines)
    done_row = next(r for r in rows if r.startswith(done.public_id)).split(",")
    assert (
        done_row[3] == "Collage" and done_row[4] == "succeeded" and done_row[-3:] == ["2", "2", "0"]
    )


def test_csv_is_only_my_workspace(owner, stranger, stranger_client):
    done = finished(owner)
    rows = b"".join(stranger_client.get(reverse("compositions:usage_csv")).streaming_content)
    assert done.public_id.encode() not in rows


def test_anonymous_gets_no_csv(client):
    response = client.get(reverse("compositions:usage_csv"))
    assert response.status_code == 302


def test_before_any_result_compare_offers_two_different_inputs(owner, owner_client):
    from django.test import override_settings

    with override_settings(BANANASITE_TASKS_SYNC=False):
        waiting = compose(owner)
    context = owner_client.get(waiting.get_absolute_url()).context
    assert context["compare"][0].label.startswith("Input: image 1")
    assert context["compare_right"].label.startswith("Input: image 2")
    html = owner_client.get(waiting.get_absolute_url()).content.decode()
    assert 'id="eta"' in html and 'id="global-position"' in html
    assert "Number 1 in the queue across the site." in html


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted():
    from compositions.usage_lines import spreadsheet_safe

    assert spreadsheet_safe("=cmd|'/C calc'!A0@evil.example") == "'=cmd|'/C calc'!A0@evil.example"
    assert spreadsheet_safe("+1@example.com") == "'+1@example.com"
    assert spreadsheet_safe("-x@example.com") == "'-x@example.com"
    assert spreadsheet_safe("@x") == "'@x"
    assert spreadsheet_safe("ada@example.com") == "ada@example.com"
