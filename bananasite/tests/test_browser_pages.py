"""Every page of the site in Chromium at phone and desktop widths: nothing scrolls sideways,
axe-core finds no serious or critical violation, and a screenshot of each is kept in
artifacts/screenshots/. Then the header menu, the workspace switcher, the invitation for a
signed-out visitor and forms that keep what was typed, as a person uses them.

To add a page, add a `Page` to PAGES (its path may use the `Site` built below)."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse

from bananasite.tests.browser import (
    DESKTOP,
    PHONE,
    SMALL_PHONE,
    axe_problems,
    new_context,
    overflow,
    shot,
    sign_in_context,
)
from conftest import SAMPLES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "a long browser pass 42"


@dataclass
class Site:
    """What the pages show: an owner working in a team with a finished composition, a
    teammate, an open invitation, a token, a webhook with a delivery."""

    owner: Any
    team: Any
    composition: Any
    invitation_token: str
    shared_result_token: str = ""
    shared_collection_token: str = ""
    reference_url: str = ""
    template_id: str = ""
    batch_id: str = ""


@dataclass(frozen=True)
class Page:
    name: str  # also the screenshot's name
    path: str | Callable[[Site], str]
    signed_in: bool
    # Runs after the page has loaded, before the checks (open a form, fill a field...).
    then: Callable[[Any], None] | None = None
    status: int = 200

    def url(self, site: Site) -> str:
        return self.path(site) if callable(self.path) else self.path


def _open_report(page: Any) -> None:
    page.locator("details.report summary").first.click()


# Every page a person reaches, from the URL conf. The admin (/admin/) is Django's own and
# exempt; the API (/api/v1/) answers JSON; POST-only actions answer with a redirect.
PAGES = [
    Page("home", "/", signed_in=False),
    Page("sign-in", "/accounts/login/", signed_in=False),
    Page("sign-up", "/accounts/signup/", signed_in=False),
    Page("password-reset", "/accounts/password/reset/", signed_in=False),
    Page("password-reset-done", "/accounts/password/reset/done/", signed_in=False),
    Page("password-reset-bad-key", "/accounts/password/reset/key/1-bad-key/", signed_in=False),
    Page("email-confirm-bad-key", "/accounts/confirm-email/bad-key/", signed_in=False),
    Page(
        "invitation-signed-out",
        lambda site: reverse("accounts:invitation", args=[site.invitation_token]),
        signed_in=False,
    ),
    Page("not-found", "/no-such-page/", signed_in=False, status=404),
    Page("compose", "/compose/", signed_in=True),
    Page("history", "/history/", signed_in=True),
    Page("verify", "/verify/", signed_in=True),
    Page("composition", lambda site: site.composition.get_absolute_url(), signed_in=True),
    Page(
        "report-form",
        lambda site: site.composition.get_absolute_url(),
        signed_in=True,
        then=_open_report,
    ),
    Page("usage", "/billing/usage/", signed_in=True),
    Page("workspace", "/workspace/", signed_in=True),
    Page(
        "invitation-signed-in",
        lambda site: reverse("accounts:invitation", args=[site.invitation_token]),
        signed_in=True,
    ),
    Page("invitation-bad-link", "/workspace/join/no-such-token", signed_in=True),
    Page("collections", "/sharing/", signed_in=True),
    Page("references", "/references/", signed_in=True),
    Page("reference-new", "/references/new", signed_in=True),
    Page("reference", lambda site: site.reference_url, signed_in=True),
    Page("shared-result", lambda site: f"/s/{site.shared_result_token}/", signed_in=False),
    Page("shared-collection", lambda site: f"/s/{site.shared_collection_token}/", signed_in=False),
    Page("templates", "/templates/", signed_in=True),
    Page(
        "template-save",
        lambda site: f"/templates/from/{site.composition.public_id}",
        signed_in=True,
    ),
    Page("template", lambda site: f"/templates/{site.template_id}", signed_in=True),
    Page("template-edit", lambda site: f"/templates/{site.template_id}/edit", signed_in=True),
    Page("template-run", lambda site: f"/templates/{site.template_id}/run", signed_in=True),
    Page("template-bulk", lambda site: f"/templates/{site.template_id}/bulk", signed_in=True),
    Page("batch", lambda site: f"/batches/{site.batch_id}", signed_in=True),
    Page("account-email", "/accounts/email/", signed_in=True),
    Page("password-change", "/accounts/password/change/", signed_in=True),
    Page("delete-account", "/account/delete", signed_in=True),
    Page("two-factor", "/accounts/2fa/", signed_in=True),
    # Setting up asks for the password again first: this lands on that page.
    Page("two-factor-setup", "/accounts/2fa/totp/activate/", signed_in=True),
    Page("sign-out", "/accounts/logout/", signed_in=True),
    Page("not-found-signed-in", "/c/cmp_nosuchthing/", signed_in=True, status=404),
]


@pytest.fixture
def site(make_user) -> Site:
    from allauth.account.models import EmailAddress

    from accounts.models import Membership
    from accounts.services import create_api_token, create_team, invite_member
    from billing.models import Wallet
    from billing.services import grant_credits
    from blueprints.services import create_batch, create_template, definition_of
    from compositions.models import Composition
    from compositions.options import CompositionOptions, NewImage
    from compositions.services import create_composition
    from references.services import create_reference
    from sharing.services import add_to_collection, create_collection, create_share_link
    from webhooks.models import Webhook, WebhookDelivery

    owner = make_user("owner@example.com", PASSWORD)
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    team = create_team(owner=owner, name="Studio North")
    grant_credits(wallet=Wallet.objects.get(workspace=team), amount=20, reason="browser tests")
    mate = make_user("mate@example.com", PASSWORD)
    Membership.objects.create(workspace=team, user=mate, role=Membership.Role.MEMBER)
    _, raw = invite_member(
        inviter=owner, workspace=team, email="newcomer@example.com", role="member"
    )
    with open(SAMPLES / "astronaut.png", "rb") as a, open(SAMPLES / "rocket.jpg", "rb") as b:
        composition = create_composition(
            workspace=team,
            user=owner,
            options=CompositionOptions(
                prompt="The astronaut from image 1 in front of the rocket from image 2.",
                preset="product_in_scene",
                model="local",
                aspect_ratio="16:9",
                image_size="1K",
            ),
            images=[
                NewImage(name="astronaut.png", fileobj=a, size=None),
                NewImage(name="rocket.jpg", fileobj=b, size=None),
            ],
        )
    composition = Composition.objects.get(pk=composition.pk)
    assert composition.status == "succeeded", composition.error_message
    create_api_token(workspace=team, user=owner, name="CI pipeline", scopes=None, expires_at=None)
    hook = Webhook.objects.create(
        workspace=team,
        url="https://hooks.example.com/a/rather/long/path/for/bananasite/events",
        events=sorted(Webhook.Event.values),
        secret="whsec_test",
    )
    WebhookDelivery.objects.create(
        webhook=hook,
        event="composition.succeeded",
        payload={},
        status=WebhookDelivery.Status.FAILED,
        attempts=3,
        last_error="Connection refused by hooks.example.com after 10 seconds",
    )
    result = composition.results.get()
    _, shared_result = create_share_link(
        workspace=team, user=owner, result=result, show_prompt=True
    )
    collection = create_collection(workspace=team, user=owner, name="Launch posters")
    add_to_collection(collection=collection, composition=composition)
    _, shared_collection = create_share_link(workspace=team, user=owner, collection=collection)
    with (SAMPLES / "coffee.png").open("rb") as fh:
        reference = create_reference(
            workspace=team,
            user=owner,
            name="Blue mug",
            kind="product",
            notes="The ceramic one",
            images=[NewImage(name="coffee.png", fileobj=fh, size=None)],
        )
    template = create_template(
        workspace=team,
        user=owner,
        name="Astronaut posters",
        definition={
            **definition_of(composition),
            "prompt": "The astronaut {pose} in front of the rocket, titled {title}",
            "fields": [{"name": "pose", "label": "Pose"}, {"name": "title", "label": "Title"}],
            "slots": [
                {"role": "subject", "label": "Person"},
                {"role": "background", "fixed": {"result": result.public_id}},
            ],
        },
    )
    upload = composition.inputs.get(position=1).upload
    batch = create_batch(
        version=template.latest,
        workspace=team,
        user=owner,
        rows=[
            {
                "fields": {"pose": "waving", "title": "Lift-off"},
                "inputs": [{"upload": upload.public_id}],
            },
            {
                "fields": {"pose": "running", "title": "Countdown"},
                "inputs": [{"upload": upload.public_id}],
            },
        ],
    )
    return Site(
        reference_url=reference.get_absolute_url(),
        owner=owner,
        team=team,
        composition=composition,
        invitation_token=raw,
        shared_result_token=shared_result,
        shared_collection_token=shared_collection,
        template_id=template.public_id,
        batch_id=batch.public_id,
    )


def _check_pages(browser, live_server, site, viewport, *, axe: bool, screenshots: bool):
    """Visit every page at this viewport; return what is wrong, page by page."""
    problems = []
    contexts = {}
    for signed_in in (False, True):
        contexts[signed_in] = new_context(browser, viewport)
        if signed_in:
            sign_in_context(contexts[signed_in], live_server.url, site.owner)
    tabs = {signed_in: context.new_page() for signed_in, context in contexts.items()}
    try:
        for spec in PAGES:
            page = tabs[spec.signed_in]  # one tab per context, reused page after page
            response = page.goto(live_server.url + spec.url(site))
            if response is None or response.status != spec.status:
                status = response.status if response else None
                problems.append(f"{spec.name}: status {status}, expected {spec.status}")
            if spec.then:
                spec.then(page)
            if why := overflow(page):
                problems.append(f"{spec.name} at {viewport['width']} px scrolls sideways: {why}")
            if axe:
                problems += [f"{spec.name}: {p}" for p in axe_problems(page)]
            if screenshots:
                shot(page, f"page-{spec.name}-{viewport['width']}")
    finally:
        for context in contexts.values():
            context.close()
    return problems


@pytest.mark.parametrize(
    ("viewport", "axe"), [(SMALL_PHONE, False), (PHONE, True), (DESKTOP, True)], ids=str
)
def test_every_page_fits_the_screen_and_passes_axe(browser, live_server, site, viewport, axe):
    problems = _check_pages(
        browser, live_server, site, viewport, axe=axe, screenshots=viewport != SMALL_PHONE
    )
    assert not problems, "\n".join(problems)


def test_the_phone_menu_is_a_button_for_keyboards_and_screen_readers(browser, live_server, site):
    from playwright.sync_api import expect

    context = new_context(browser, PHONE)
    sign_in_context(context, live_server.url, site.owner)
    page = context.new_page()
    page.goto(live_server.url + "/history/")
    # The skip link is the first stop and moves focus to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    menu = page.get_by_role("button", name="Menu")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(main_nav).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(main_nav.get_by_role("link", name="Credits")).to_be_visible()
    shot(page, "menu-open-390", full_page=False)
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(main_nav).to_be_hidden()
    context.close()

    # Without JavaScript the menu stays open: every link is reachable.
    context = new_context(browser, PHONE, java_script_enabled=False)
    sign_in_context(context, live_server.url, site.owner)
    page = context.new_page()
    page.goto(live_server.url + "/history/")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Credits")
    ).to_be_visible()
    assert overflow(page) is None
    context.close()


def test_the_switcher_waits_for_an_explicit_choice_and_lands_on_history(browser, live_server, site):
    from playwright.sync_api import expect

    context = new_context(browser, DESKTOP)
    sign_in_context(context, live_server.url, site.owner)
    page = context.new_page()
    page.goto(live_server.url + "/workspace/")
    switcher = page.get_by_label("Workspace", exact=True)
    expect(switcher).to_have_value(site.team.slug)
    # Arrow keys through the options change nothing by themselves.
    switcher.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.wait_for_timeout(300)  # an auto-submitting switcher would be navigating by now
    assert page.url.endswith("/workspace/")
    personal = site.owner.memberships.get(workspace__kind="personal").workspace
    switcher.select_option(personal.slug)
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url(re.compile(r"/history/$"))
    expect(page.get_by_text(f"You are working in {personal.name}.")).to_be_visible()
    expect(page.locator(".history .card")).to_have_count(0)  # the team's composition stays there
    context.close()


def test_a_signed_out_invitation_leads_through_sign_up_back_to_it(browser, live_server, site):
    from playwright.sync_api import expect

    context = new_context(browser, PHONE)
    page = context.new_page()
    link = live_server.url + reverse("accounts:invitation", args=[site.invitation_token])
    page.goto(link)
    expect(page.get_by_role("heading", name="Join Studio North")).to_be_visible()
    expect(page.get_by_text("owner@example.com invited")).to_be_visible()
    page.get_by_role("link", name="Create an account to accept").click()
    page.get_by_label("Email:").fill("newcomer@example.com")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again):").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(link)
    expect(page.get_by_role("heading", name="Join Studio North")).to_be_visible()
    # Joining asks to prove the address first (accounts.views.invitation).
    expect(page.get_by_role("button", name="Send me a verification link")).to_be_visible()
    shot(page, "invitation-after-sign-up-390")
    context.close()


def test_forms_keep_what_was_typed_with_the_error_beside_the_field(browser, live_server, site):
    from playwright.sync_api import expect

    context = new_context(browser, PHONE)
    sign_in_context(context, live_server.url, site.owner)
    page = context.new_page()
    page.goto(live_server.url + "/workspace/")
    page.get_by_label("Name", exact=True).fill("Nightly export")
    page.get_by_label("usage:read").check()
    page.get_by_label("Expires after (days, empty for never)").fill("0")
    page.get_by_role("button", name="Create token").click()
    days = page.get_by_label("Expires after (days, empty for never)")
    expect(days).to_be_focused()
    expect(days).to_have_accessible_description("Expiry must be 1 to 3650 days, or empty for none.")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Nightly export")
    expect(page.get_by_label("usage:read")).to_be_checked()
    shot(page, "token-form-error-390", full_page=False)

    url = page.get_by_label("Endpoint URL")
    url.fill("http://127.0.0.1:9/hook")
    page.locator("#webhook-form").get_by_label("composition.succeeded").uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    url = page.get_by_label("Endpoint URL")
    expect(url).to_be_focused()
    expect(url).to_have_value("http://127.0.0.1:9/hook")
    expect(url).to_have_accessible_description(re.compile("That endpoint cannot be used"))
    expect(page.locator("#webhook-form").get_by_label("composition.succeeded")).not_to_be_checked()
    expect(page.locator("#webhook-form").get_by_label("composition.failed")).to_be_checked()
    assert axe_problems(page) == []
    shot(page, "webhook-form-error-390", full_page=False)
    context.close()
