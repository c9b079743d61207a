"""The composer studio in a real browser (issue 12), at desktop (1366x900) and phone (390x844)
sizes: photos uploaded as they are picked, refusals and reloads that lose nothing, what blocks
Compose and why, the prompt linter, preset inputs, the offline banner, keyboard reordering.
Screenshots go to artifacts/screenshots/composer-*.png (kept by CI)."""

import re

import pytest

from conftest import SAMPLES

from .test_browser import shot, sign_up

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(SIZES))
def size(request, page):
    page.set_viewport_size(SIZES[request.param])
    return request.param


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def wait_uploaded(page, count):
    expect()(page.locator("#previews li")).to_have_count(count)
    expect()(page.locator("#previews li.uploading")).to_have_count(0, timeout=20_000)


def no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def user_of(email):
    from accounts.models import User

    return User.objects.get(email=email)


def wallet_of(email):
    from billing.models import Wallet

    return Wallet.objects.select_related("plan").get(workspace=user_of(email).current_workspace)


def made_by(user, **options):
    """A finished composition (tasks may already have run it when the transaction ended)."""
    from compositions.tasks import run_composition

    from .factories import compose

    composition = compose(user, **options)
    composition.refresh_from_db()
    if not composition.is_finished:
        run_composition(composition.public_id)
    return composition


def no_serious_axe_violations(page):
    from axe_playwright_python.sync_playwright import Axe

    # The composer itself; the layout around it (header, flash messages) is base.html's, which
    # branch i12-access checks page by page.
    violations = Axe().run(page, context={"include": [["main"]], "exclude": [[".messages"]]})
    violations = violations.response["violations"]
    serious = [
        (v["id"], [n["target"] for n in v["nodes"]])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


def focused_photo(page) -> str:
    return page.evaluate(
        "document.activeElement.closest('li.preview').querySelector('.preview-name').textContent"
    )


def test_photos_survive_a_bad_file_a_reload_and_a_refusal(page, live_server, size, tmp_path):
    from billing.models import Plan

    email = f"keep-{size}@example.com"
    sign_up(page, live_server, email)
    notes = tmp_path / "notes.jpg"
    notes.write_text("a shopping list, not a photo")
    page.set_input_files(
        'input[name="images"]', [SAMPLES / "chelsea.png", notes, SAMPLES / "coffee.png"]
    )
    wait_uploaded(page, 3)
    photos = page.locator("#previews li")
    # The text file shows its own error; the others are uploaded and stay.
    bad = photos.nth(1)
    expect()(bad).to_have_class(re.compile("failed"))
    expect()(bad.locator(".preview-error")).to_contain_text("notes.jpg")
    expect()(photos.locator(".preview-error:visible")).to_have_count(1)
    no_serious_axe_violations(page)
    expect()(page.locator("#blockers")).to_contain_text("notes.jpg could not be added")
    expect()(page.get_by_role("button", name="Compose")).to_be_disabled()
    no_sideways_scroll(page)
    shot(page, f"composer-{size}-bad-file")
    bad.get_by_role("button", name=re.compile("Remove")).click()
    expect()(photos).to_have_count(2)

    # Keyboard: move the cup earlier; focus stays on the moved photo.
    photos.nth(1).get_by_role("button", name="Move image 2 (coffee.png) earlier").focus()
    page.keyboard.press("Enter")
    expect()(photos.nth(0).locator(".preview-name")).to_have_text("coffee.png")
    assert focused_photo(page) == "coffee.png"
    page.keyboard.press("Alt+ArrowDown")  # the arrow keys move it back, focus still with it
    expect()(photos.nth(1).locator(".preview-name")).to_have_text("coffee.png")
    assert focused_photo(page) == "coffee.png"
    photos.nth(0).get_by_label("Role of image 1").select_option("subject")
    expect()(photos.nth(0).locator("img")).to_have_attribute(
        "alt", "Image 1 of 2, role subject: chelsea.png"
    )
    prompt = page.get_by_role("textbox", name="Prompt")
    prompt.fill("The cat from image 1 sniffing the cup in image 2")
    page.get_by_label("Number of images").select_option("2")

    page.reload()
    wait_uploaded(page, 2)
    expect()(photos.locator(".preview-name")).to_have_text(["chelsea.png", "coffee.png"])
    expect()(photos.nth(0).get_by_label("Role of image 1")).to_have_value("subject")
    expect()(prompt).to_have_value("The cat from image 1 sniffing the cup in image 2")
    expect()(page.get_by_label("Number of images")).to_have_value("2")

    # The quota runs out in another tab: the server refuses, and nothing chosen is lost.
    wallet = wallet_of(email)
    Plan.objects.filter(pk=wallet.plan_id).update(daily_images_per_member=1)
    page.get_by_role("button", name="Compose").click()
    expect()(page.locator(".field-error")).to_contain_text("You can make 1 images a day")
    wait_uploaded(page, 2)
    expect()(photos.locator(".preview-name")).to_have_text(["chelsea.png", "coffee.png"])
    expect()(photos.nth(0).get_by_label("Role of image 1")).to_have_value("subject")
    expect()(prompt).to_have_value("The cat from image 1 sniffing the cup in image 2")
    # Now the page knows the quota left, and says so beside the button.
    expect()(page.locator("#blockers")).to_contain_text("You can make 1 more image today")
    expect()(page.get_by_role("button", name="Compose")).to_be_disabled()
    no_sideways_scroll(page)
    shot(page, f"composer-{size}-quota-refused")
    page.get_by_label("Number of images").select_option("1")
    expect()(page.get_by_role("button", name="Compose")).to_be_enabled()
    page.get_by_role("button", name="Compose").click()
    page.wait_for_url(re.compile(r"/c/cmp_"))
    from compositions.models import Composition

    composition = Composition.objects.get(workspace=wallet.workspace)
    names = [i.upload.original_name for i in composition.inputs.select_related("upload")]
    assert names == ["chelsea.png", "coffee.png"]
    assert composition.inputs.get(position=1).role == "subject"
    # Back on the composer, the sent work is not offered again.
    page.goto(f"{live_server.url}/compose/")
    expect()(page.locator("#previews li")).to_have_count(0)


def test_one_photo_and_no_credits_block_compose_and_a_refusal_keeps_the_photos(
    page, live_server, size
):
    from billing.services import adjust_credits

    email = f"credits-{size}@example.com"
    sign_up(page, live_server, email)
    page.set_input_files('input[name="images"]', [SAMPLES / "coffee.png"])
    wait_uploaded(page, 1)
    compose = page.get_by_role("button", name="Compose")
    expect()(compose).to_be_disabled()
    expect()(page.locator("#blockers")).to_have_text(
        re.compile(r"Add at least 2 photos to combine \(you have 1\)")
    )
    shot(page, f"composer-{size}-one-photo")
    page.set_input_files('input[name="images"]', [SAMPLES / "rocket.jpg"])
    wait_uploaded(page, 2)
    page.get_by_role("textbox", name="Prompt").fill("The cup from image 1 on the rocket in image 2")
    expect()(compose).to_be_enabled()

    # The credits go elsewhere after the page was loaded: the server refuses.
    wallet = wallet_of(email)
    adjust_credits(wallet=wallet, amount=-wallet.balance, reason="spent elsewhere")
    compose.click()
    expect()(page.locator(".field-error")).to_have_text(
        "This composition needs 1 credit; the workspace has 0."
    )
    wait_uploaded(page, 2)
    expect()(page.locator("#previews .preview-name")).to_have_text(["coffee.png", "rocket.jpg"])
    expect()(page.locator("#blockers")).to_contain_text("This needs 1 credit; the workspace has 0.")
    expect()(compose).to_be_disabled()
    no_sideways_scroll(page)
    shot(page, f"composer-{size}-no-credits")


def test_drop_paste_and_a_past_result_into_a_slot(page, live_server, size, stranger):
    email = f"drop-{size}@example.com"
    sign_up(page, live_server, email)
    made = made_by(user_of(email))
    result = made.results.get()
    theirs = made_by(stranger)

    page.goto(f"{live_server.url}/compose/")
    png = (SAMPLES / "logo.png").read_bytes()
    # A file dropped anywhere on the page (here on the heading).
    page.evaluate(
        """(bytes) => {
          const dt = new DataTransfer();
          dt.items.add(new File([new Uint8Array(bytes)], "dropped.png", {type: "image/png"}));
          const drop = new DragEvent("drop", {dataTransfer: dt, bubbles: true});
          document.querySelector("h1").dispatchEvent(drop);
        }""",
        list(png),
    )
    wait_uploaded(page, 1)
    # An image pasted from the clipboard.
    page.evaluate(
        """(bytes) => {
          const dt = new DataTransfer();
          dt.items.add(new File([new Uint8Array(bytes)], "pasted.png", {type: "image/png"}));
          document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true}));
        }""",
        list(png),
    )
    wait_uploaded(page, 2)
    # A past result dragged from the strip onto the first slot goes in before it.
    item = page.locator(f'.recent-item[data-result="{result.public_id}"]')
    expect()(item.locator("img")).to_have_attribute("alt", re.compile("Result 1 of a"))
    page.evaluate(
        """(id) => {
          const dt = new DataTransfer();
          const item = document.querySelector(`.recent-item[data-result="${id}"]`);
          item.dispatchEvent(new DragEvent("dragstart", {dataTransfer: dt, bubbles: true}));
          const slot = document.querySelector("#previews li");
          slot.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
        }""",
        result.public_id,
    )
    wait_uploaded(page, 3)
    names = page.locator("#previews .preview-name")
    expect()(names).to_have_text(
        [f"bananasite-{made.public_id}-1.png", "dropped.png", "pasted.png"]
    )
    # Another workspace's result is not found.
    status = page.evaluate(
        """async (id) => {
          const body = new FormData(); body.append("result", id);
          const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
          const headers = {"X-CSRFToken": token};
          const url = "/compose/uploads/from-result";
          return (await fetch(url, {method: "POST", body, headers})).status;
        }""",
        theirs.results.get().public_id,
    )
    assert status == 404
    no_sideways_scroll(page)
    shot(page, f"composer-{size}-dropped-pasted-result")

    # The detail page's buttons say what they cost.
    page.goto(f"{live_server.url}{made.get_absolute_url()}")
    expect()(page.get_by_role("button", name="Variations")).to_have_text("Variations · 1 credit")
    expect()(page.get_by_role("link", name=re.compile("Use as input"))).to_have_text(
        "Use as input · from 1 credit"
    )
    shot(page, f"composer-{size}-detail-costs")


def test_the_prompt_linter_and_a_long_prompt(page, live_server, size):
    sign_up(page, live_server, f"lint-{size}@example.com")
    page.set_input_files(
        'input[name="images"]',
        [SAMPLES / "chelsea.png", SAMPLES / "coffee.png", SAMPLES / "brick.png"],
    )
    wait_uploaded(page, 3)
    prompt = page.get_by_role("textbox", name="Prompt")
    prompt.fill("Put the cat from image 1 next to the cup from image 4")
    lint = page.locator("#lint li")
    expect()(lint).to_have_text(
        [
            "The prompt names image 4, but there are 3 photos.",
            "Image 2 (other) is not mentioned in the prompt: say what to do with it, or remove it.",
            "Image 3 (other) is not mentioned in the prompt: say what to do with it, or remove it.",
        ]
    )
    # A role word counts as a mention; warnings never block.
    page.get_by_label("Role of image 3").select_option("background")
    prompt.fill("The cat from image 1 and the cup in image 2 on the background")
    expect()(lint).to_have_count(0)
    expect()(page.get_by_role("button", name="Compose")).to_be_enabled()
    prompt.fill("The cat from image 1 and the cup in image 2 on the background, YOUR TITLE HERE")
    expect()(lint).to_have_text(
        ["The prompt still says “YOUR TITLE HERE”: replace it with your own words."]
    )
    expect()(page.get_by_role("button", name="Compose")).to_be_enabled()
    shot(page, f"composer-{size}-lint")

    long = "image 1 image 2 background " * 160  # 4,320 characters
    prompt.fill(long)
    expect()(page.locator("#prompt-count")).to_have_text("4,320")
    expect()(page.locator("#blockers")).to_contain_text(
        "The prompt is 4,320 characters; the limit is 4,000. Shorten it by 320."
    )
    expect()(page.get_by_role("button", name="Compose")).to_be_disabled()
    assert len(prompt.input_value()) == 4320  # nothing cut silently
    no_sideways_scroll(page)
    no_serious_axe_violations(page)
    shot(page, f"composer-{size}-long-prompt")


def test_presets_fill_the_prompt_and_offer_to_replace_it_with_an_undo(page, live_server, size):
    sign_up(page, live_server, f"preset-{size}@example.com")
    page.set_input_files(
        'input[name="images"]', [SAMPLES / "astronaut.png", SAMPLES / "rocket.jpg"]
    )
    wait_uploaded(page, 2)
    prompt = page.get_by_role("textbox", name="Prompt")
    page.get_by_label("Preset").select_option("thumbnail")
    expect()(page.locator("#preset-example img")).to_have_attribute(
        "alt", re.compile("Example result of the Thumbnail with a title preset")
    )
    expect()(page.locator("#lint")).to_contain_text("still says “Your title here”")
    page.get_by_label("Title", exact=True).fill("Lift off")
    page.get_by_label("Subtitle (optional)").fill("Episode 4")
    expect()(prompt).to_have_value(
        "A bold video thumbnail: the subject of image 1 in front of image 2, with the title "
        '"Lift off" and the subtitle "Episode 4" in smaller letters below it.'
    )
    expect()(page.locator("#lint li")).to_have_count(0)
    mine = "My own words about image 1 and image 2"
    prompt.fill(mine)
    page.get_by_label("Preset").select_option("logo_placement")
    expect()(prompt).to_have_value(mine)  # not replaced without asking
    offer = page.locator("#prompt-offer")
    expect()(offer).to_contain_text("Replace your prompt with the “Logo on a product” preset's?")
    page.get_by_label("Logo position").select_option("the top right")
    page.get_by_label("Logo size").select_option("small")
    shot(page, f"composer-{size}-preset-offer")
    offer.get_by_role("button", name="Replace prompt").click()
    expect()(prompt).to_have_value(
        "Place the logo from image 2 on the product in image 1, small, at the top right, "
        "following its surface and matching the light."
    )
    offer.get_by_role("button", name="Undo").click()
    expect()(prompt).to_have_value(mine)
    no_sideways_scroll(page)


def test_use_as_input_then_a_new_preset_offers_to_replace(page, live_server, size):
    email = f"refine-{size}@example.com"
    sign_up(page, live_server, email)
    made = made_by(user_of(email), preset="collage", prompt="")
    page.goto(f"{live_server.url}{made.get_absolute_url()}")
    page.get_by_role("link", name=re.compile("Use as input")).first.click()
    prompt = page.get_by_role("textbox", name="Prompt")
    before = prompt.input_value()
    assert before.startswith("Arrange all 2 images")
    page.get_by_label("Preset").select_option("style_transfer")
    expect()(page.locator("#prompt-offer")).to_contain_text("Replace your prompt")
    page.get_by_role("button", name="Replace prompt").click()
    expect()(prompt).to_have_value(re.compile(r"^Redraw image 1 in the visual style of image 2"))
    page.get_by_role("button", name="Undo").click()
    expect()(prompt).to_have_value(before)
    shot(page, f"composer-{size}-use-as-input")


def test_offline_the_composer_says_so_and_marks_presets(page, live_server, size):
    sign_up(page, live_server, f"offline-{size}@example.com")
    banner = page.locator("#offline-banner")
    expect()(banner).to_contain_text("Offline compositor: layouts and cut-outs, no AI.")
    expect()(page.locator('select[name="preset"] option[value="face_swap"]')).to_have_text(
        "Face swap (needs AI)"
    )
    page.set_input_files(
        'input[name="images"]', [SAMPLES / "astronaut.png", SAMPLES / "chelsea.png"]
    )
    wait_uploaded(page, 2)
    page.get_by_label("Preset").select_option("outfit_change")
    expect()(page.locator("#lint")).to_contain_text(
        "The offline compositor cannot do “Outfit change”"
    )
    no_sideways_scroll(page)
    no_serious_axe_violations(page)
    shot(page, f"composer-{size}-offline")


def test_a_dropped_upload_offers_a_retry(page, live_server, size):
    sign_up(page, live_server, f"retry-{size}@example.com")
    attempts = []

    def drop_the_first(route):
        attempts.append(route.request.url)
        if len(attempts) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/compose/uploads", drop_the_first)
    page.set_input_files('input[name="images"]', [SAMPLES / "brick.png"])
    photo = page.locator("#previews li")
    expect()(photo).to_have_class(re.compile("failed"))
    expect()(photo.locator(".preview-error")).to_have_text(
        "The connection dropped before this photo was uploaded."
    )
    expect()(photo.locator("progress")).to_be_hidden()
    shot(page, f"composer-{size}-upload-dropped")
    photo.get_by_role("button", name="Retry uploading brick.png").click()
    wait_uploaded(page, 1)
    expect()(photo).not_to_have_class(re.compile("failed"))
    expect()(photo.locator('input[name="uploads"]')).to_have_value(re.compile(r"^up_"))
    assert len(attempts) == 2


def test_a_submission_that_never_reached_us_keeps_the_draft(page, live_server, size):
    # The session ran out in another tab: Compose lands on the sign-in page, not on ours.
    email = f"lost-{size}@example.com"
    sign_up(page, live_server, email)
    page.set_input_files('input[name="images"]', [SAMPLES / "chelsea.png", SAMPLES / "coffee.png"])
    wait_uploaded(page, 2)
    page.get_by_role("textbox", name="Prompt").fill(
        "The cat from image 1 beside the cup in image 2"
    )
    page.context.clear_cookies(name="sessionid")
    page.get_by_role("button", name="Compose").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Email:").fill(email)
    page.get_by_label("Password:", exact=True).fill("a long browser pass 42")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.goto(f"{live_server.url}/compose/")
    wait_uploaded(page, 2)
    expect()(page.locator("#previews li .preview-name")).to_have_text(["chelsea.png", "coffee.png"])
    expect()(page.get_by_role("textbox", name="Prompt")).to_have_value(
        "The cat from image 1 beside the cup in image 2"
    )
