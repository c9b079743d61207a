"""Two-factor sign-in as a person meets it, in Debian's Chromium: set up an authenticator app
through the real pages (the setup key read from the page, the code computed here), keep the
recovery codes, sign in again with a code. At 1366x900 and 390x844, with screenshots."""

import time
from datetime import UTC, datetime

import pytest

from bananasite.tests.browser import DESKTOP, PHONE, axe_problems, new_context, overflow, shot
from conftest import totp_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "a long browser pass 42"


def next_period(after: float) -> datetime:
    """One second into the authenticator's next 30-second step: a code typed now has the
    whole step to be checked in, and is never one already used."""
    return datetime.fromtimestamp((int(after) // 30 + 1) * 30 + 1, tz=UTC)


def check(page, name: str, width: int) -> None:
    assert overflow(page) is None, overflow(page)
    assert not axe_problems(page), axe_problems(page)
    shot(page, f"mfa-{name}-{width}")


def sign_in_with_password(page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email:").fill(email)
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_set_up_an_authenticator_app_and_sign_in_with_its_code(
    browser, live_server, make_user, viewport, time_machine
):
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from playwright.sync_api import expect

    width = viewport["width"]
    email = f"two-{width}@example.com"
    user = make_user(email, PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    time_machine.move_to(next_period(time.time()), tick=True)

    context = new_context(browser, viewport)
    page = context.new_page()
    sign_in_with_password(page, live_server.url, email)
    expect(page.get_by_role("heading", name="Compose")).to_be_visible()

    page.goto(f"{live_server.url}/accounts/2fa/")
    expect(page.locator("#mfa-status")).to_contain_text("Two-factor sign-in is off")
    check(page, "index-off", width)
    page.get_by_role("link", name="Set up an authenticator app").click()
    # Changing how one signs in asks for the password again.
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Set up an authenticator app")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    assert len(secret) == 32, secret
    check(page, "activate", width)
    page.get_by_label("Authenticator code").fill("000000")
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    assert page.locator("#totp-secret").inner_text().strip() == secret  # the same key stays
    shot(page, f"mfa-activate-wrong-code-{width}")
    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on").click()

    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    codes = page.get_by_label("Unused codes").input_value().split()
    assert len(codes) == 10
    check(page, "recovery-codes", width)
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    context.close()

    # Another browser, another day: the password, then the code the app shows now.
    time_machine.move_to(next_period(time.time()), tick=True)
    context = new_context(browser, viewport)
    page = context.new_page()
    sign_in_with_password(page, live_server.url, email)
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    check(page, "authenticate", width)
    page.get_by_label("Code:").fill("123456")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    expect(page.get_by_role("heading", name="Compose")).to_have_count(0)
    page.get_by_label("Code:").fill(totp_code(secret))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Compose")).to_be_visible()
    shot(page, f"mfa-signed-in-{width}")

    page.goto(f"{live_server.url}/accounts/2fa/")
    expect(page.locator("#mfa-status")).to_contain_text("Two-factor sign-in is on")
    expect(page.get_by_text("10 of 10 recovery codes left")).to_be_visible()
    check(page, "index-on", width)
    context.close()


def sign_out(page) -> None:
    from playwright.sync_api import expect

    menu = page.get_by_role("button", name="Menu")
    sign_out_button = page.get_by_role("button", name="Sign out")
    # Wait for the header (a page may still be loading); on phones it folds behind Menu.
    expect(menu.or_(sign_out_button).first).to_be_visible()
    if menu.is_visible():
        menu.click()
    sign_out_button.click()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_add_a_passkey_and_sign_in_with_it(browser, live_server, make_user, viewport):
    """Chromium's virtual authenticator (DevTools' WebAuthn domain) stands in for the phone's
    or laptop's: a real WebAuthn ceremony on http://localhost, checked by fido2 on the server."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from playwright.sync_api import expect

    width = viewport["width"]
    email = f"passkey-{width}@example.com"
    user = make_user(email, PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    assert live_server.url.startswith("http://localhost:")  # a secure origin for WebAuthn

    context = new_context(browser, viewport)
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    sign_in_with_password(page, live_server.url, email)
    page.goto(f"{live_server.url}/accounts/2fa/")
    page.get_by_role("link", name="Add a passkey").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Name:").fill("Work laptop")
    page.get_by_label("Passwordless").check()
    check(page, "passkey-add", width)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    passkey = Authenticator.objects.get(user=user, type="webauthn")
    assert passkey.data["name"] == "Work laptop" and passkey.wrap().is_passwordless

    # The password, then the passkey as the second factor.
    sign_out(page)
    sign_in_with_password(page, live_server.url, email)
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    page.get_by_role("button", name="Use a passkey or security key").click()
    expect(page.get_by_role("heading", name="Compose")).to_be_visible()

    # The passkey alone, from the sign-in page.
    sign_out(page)
    page.goto(f"{live_server.url}/accounts/login/")
    check(page, "login-with-passkey-button", width)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="Compose")).to_be_visible()
    shot(page, f"mfa-passkey-signed-in-{width}")
    context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_owner_requires_it_and_a_member_is_sent_to_set_it_up(
    browser, live_server, make_user, viewport
):
    from playwright.sync_api import expect

    from accounts.models import Membership
    from accounts.services import create_team
    from bananasite.tests.browser import sign_in_context
    from conftest import give_totp

    width = viewport["width"]
    owner = make_user(f"boss-{width}@example.com", PASSWORD)
    member = make_user(f"crew-{width}@example.com", PASSWORD)
    team = create_team(owner=owner, name="Night Shift")
    Membership.objects.create(workspace=team, user=member, role=Membership.Role.MEMBER)
    member.current_workspace = team
    member.save(update_fields=["current_workspace"])
    give_totp(owner)

    context = new_context(browser, viewport)
    sign_in_context(context, live_server.url, owner)
    page = context.new_page()
    page.goto(f"{live_server.url}/workspace/")
    page.get_by_label("Require two-factor sign-in of every member").check()
    page.locator("#require-mfa-form").get_by_role("button", name="Save").click()
    expect(page.get_by_text("now needs two-factor sign-in")).to_be_visible()
    expect(page.locator("tr", has_text=member.email)).to_contain_text("no two-factor")
    page.locator("#two-factor").scroll_into_view_if_needed()
    check(page, "team-requires", width)
    context.close()

    context = new_context(browser, viewport)
    sign_in_context(context, live_server.url, member)
    page = context.new_page()
    page.goto(f"{live_server.url}/compose/")
    assert page.url == f"{live_server.url}/accounts/2fa/"
    expect(page.get_by_text("Night Shift requires two-factor sign-in")).to_be_visible()
    check(page, "member-sent-to-setup", width)
    page.get_by_role("button", name="Switch to my personal workspace").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    context.close()
