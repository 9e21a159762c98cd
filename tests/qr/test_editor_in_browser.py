"""The QR editor's rough edges, in Chromium: each test here failed before its fix (#13, "Bugs
first"). A refusal shows its message beside the field and in the summary at the top, which
takes the focus; the form keeps what was typed."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from qrplatform.testing.browser import log_in, on_errors, sideways_overflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def owner(api, create_user, live_server):
    user = create_user(email="eda@example.com", name="Eda Editor")
    return user, api(user)


@pytest.fixture
def open_tab(browser, live_server):
    """open_tab(width) → a signed-in tab at that width; the test fails on any JavaScript or
    CSP error."""
    contexts, problems = [], []

    def opener(width="desktop", email="eda@example.com"):
        context = browser.new_context(base_url=live_server, viewport=WIDTHS[width],
                                      is_mobile=width == "phone")
        contexts.append(context)
        tab = context.new_page()
        on_errors(tab, problems, ignore=lambda message: "422" in message.text)
        log_in(tab, email)
        return tab

    yield opener
    for context in contexts:
        context.close()
    assert not problems, problems


def preview_settled(tab):
    tab.wait_for_function("() => !document.querySelector('.htmx-request')")
    expect(tab.locator("#qr-preview img, #qr-preview .qr-preview-empty")).to_have_count(1)


def refused(tab, field_id: str, message: str) -> None:
    """The refusal beside its field and in the summary at the top, which has the focus."""
    expect(tab.locator(f"#{field_id}-error")).to_contain_text(message)
    summary = tab.locator("[data-error-summary]")
    expect(summary).to_contain_text(message)
    expect(summary).to_be_focused()


def test_a_wifi_code_is_static_and_saves(owner, open_tab):
    _user, caller = owner
    tab = open_tab()
    tab.goto("/qr/new")
    dynamic, static = tab.locator("#kind-0"), tab.locator("#kind-1")
    expect(dynamic).to_be_checked()                   # the default kind
    tab.locator("#name").fill("Guest network")
    tab.locator("#type").select_option("wifi")
    # Dynamic is not offered for Wi-Fi, and the page says why.
    expect(dynamic).to_be_disabled()
    expect(static).to_be_checked()
    expect(tab.locator("#kind-help")).to_contain_text("A Wi-Fi code must be static")
    tab.locator("#content-wifi-ssid").fill("Cafe")
    tab.locator("#content-wifi-password").fill("espresso42")
    preview_settled(tab)
    expect(tab.locator("#qr-preview .qr-ok")).to_be_visible()
    # Another type brings Dynamic back, as it was.
    tab.locator("#type").select_option("url")
    expect(dynamic).to_be_enabled()
    expect(dynamic).to_be_checked()
    expect(tab.locator("#kind-help")).to_be_hidden()
    tab.locator("#type").select_option("wifi")
    preview_settled(tab)
    tab.get_by_role("button", name="Create QR code").click()
    tab.wait_for_url("**/qr/*")
    expect(tab.locator("#flash")).to_contain_text("“Guest network” is ready.")
    (code,) = caller.get("/api/v1/qr-codes").json["items"]
    assert (code["kind"], code["type"], code["content"]["ssid"]) == ("static", "wifi", "Cafe")


def test_a_refused_kind_shows_beside_the_field_and_keeps_the_form(owner, open_tab):
    """Dynamic sent anyway (an old page, no script): the service's refusal is shown, not a
    bare 422, and nothing typed is lost."""
    _user, caller = owner
    tab = open_tab()
    tab.goto("/qr/new")
    tab.locator("#name").fill("Guest network")
    tab.locator("#type").select_option("wifi")
    tab.locator("#content-wifi-ssid").fill("Cafe")
    preview_settled(tab)
    tab.evaluate("() => { const d = document.querySelector('#kind-0');"
                 " d.closest('fieldset').removeAttribute('data-static-only');"
                 " d.disabled = false; d.checked = true;"
                 " d.dispatchEvent(new Event('change', {bubbles: true})); }")
    preview_settled(tab)
    tab.get_by_role("button", name="Create QR code").click()
    tab.wait_for_load_state("load")
    refused(tab, "kind", "A Wi-Fi code must be static")
    expect(tab.locator("#name")).to_have_value("Guest network")
    expect(tab.locator("#type")).to_have_value("wifi")
    expect(tab.locator("#content-wifi-ssid")).to_have_value("Cafe")
    # The summary's link leads to the field.
    tab.locator("[data-error-summary] a[href='#kind']").click()
    expect(tab.locator("#kind")).to_be_focused()

    # A content field's refusal too: beside it and in the summary, linked.
    tab.locator("#content-wifi-password").fill("short")
    tab.get_by_role("button", name="Create QR code").click()
    tab.wait_for_load_state("load")
    refused(tab, "content-wifi-password", "A WPA password has 8 to 63 characters.")
    tab.locator("[data-error-summary] a[href='#content-wifi-password']").click()
    expect(tab.locator("#content-wifi-password")).to_be_focused()
    expect(tab.locator("#content-wifi-password")).to_have_value("short")
    assert caller.get("/api/v1/qr-codes").json["total"] == 0


def preview_pixels(tab):
    """The preview's image, decoded."""
    src = tab.locator("#qr-preview img").get_attribute("src")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")


def has_colour(image, rgb, tolerance=40) -> bool:
    return any(all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=True))
               for _count, pixel in image.getcolors(maxcolors=1 << 16))


def test_starting_from_a_saved_design_changes_the_preview_and_the_code(owner, open_tab):
    _user, caller = owner
    brand = caller.post("/api/v1/qr-design-templates", json={"name": "Brand", "design": {
        "foreground": "#1d4ed8", "module_style": "dots", "eye_style": "rounded"}})
    assert brand.status_code == 201, brand.json
    tab = open_tab()
    tab.goto("/qr/new")
    tab.locator("#content-url-url").fill("https://example.com/brand")
    preview_settled(tab)
    assert not has_colour(preview_pixels(tab), (0x1D, 0x4E, 0xD8))
    tab.get_by_label("Start from a saved design").select_option(label="Brand")
    # The design's fields take the saved design; the preview follows.
    expect(tab.locator("#foreground")).to_have_value("#1d4ed8")
    expect(tab.locator("#module_style")).to_have_value("dots")
    expect(tab.locator("#eye_style")).to_have_value("rounded")
    tab.wait_for_function("() => !document.querySelector('.htmx-request')")
    tab.wait_for_function(
        "() => document.querySelector('#qr-preview img')?.src.length > 0")
    for _ in range(50):
        if has_colour(preview_pixels(tab), (0x1D, 0x4E, 0xD8)):
            break
        tab.wait_for_timeout(100)
    assert has_colour(preview_pixels(tab), (0x1D, 0x4E, 0xD8))
    # Still adjustable: the eyes in their own colour.
    tab.locator("#module_style").select_option("rounded")
    preview_settled(tab)
    tab.get_by_role("button", name="Create QR code").click()
    tab.wait_for_url("**/qr/*")
    (code,) = caller.get("/api/v1/qr-codes").json["items"]
    assert code["design"]["foreground"] == "#1d4ed8"
    assert code["design"]["eye_style"] == "rounded"
    assert code["design"]["module_style"] == "rounded"


def test_a_logo_sets_error_correction_to_h_in_the_select(owner, open_tab, tmp_path):
    _user, caller = owner
    logo = tmp_path / "logo.png"
    Image.new("RGB", (64, 64), (220, 38, 38)).save(logo)
    tab = open_tab()
    tab.goto("/qr/new")
    tab.locator("#content-url-url").fill("https://example.com/logo")
    correction = tab.locator("#error_correction")
    expect(correction).to_have_value("M")
    tab.locator("#logo_file").set_input_files(str(logo))
    expect(tab.locator("#qr-logo-state")).to_contain_text("Error correction is set to H")
    expect(correction).to_have_value("H")
    for level in "LMQ":  # nothing else to choose while the logo is there
        expect(correction.locator(f"option[value={level}]")).to_be_disabled()
    tab.get_by_role("button", name="Remove logo").click()
    expect(correction).to_have_value("M")
    expect(correction.locator("option[value=L]")).to_be_enabled()
    tab.locator("#logo_file").set_input_files(str(logo))
    expect(correction).to_have_value("H")
    preview_settled(tab)
    tab.get_by_role("button", name="Create QR code").click()
    tab.wait_for_url("**/qr/*")
    (code,) = caller.get("/api/v1/qr-codes").json["items"]
    assert code["design"]["error_correction"] == "H" and code["design"]["logo"]
    # The editor of the saved code shows H too.
    tab.goto(f"/qr/{code['id']}/edit")
    expect(correction).to_have_value("H")


def test_an_expiry_in_the_past_is_refused(owner, open_tab):
    _user, caller = owner
    tab = open_tab()
    tab.goto("/qr/new")
    tab.locator("#name").fill("Last year's offer")
    tab.locator("#content-url-url").fill("https://example.com/offer")
    tab.get_by_text("Link settings").click()
    tab.locator("#expires_at").fill("2020-01-31T12:00")
    preview_settled(tab)
    tab.get_by_role("button", name="Create QR code").click()
    tab.wait_for_load_state("load")
    refused(tab, "expires_at", "This date has passed")
    expect(tab.locator("#expires_at")).to_be_visible()      # its section opened
    expect(tab.locator("#expires_at")).to_have_value("2020-01-31T12:00")
    expect(tab.locator("#content-url-url")).to_have_value("https://example.com/offer")
    assert caller.get("/api/v1/qr-codes").json["total"] == 0
    # The API refuses it the same way.
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "destination": "https://example.com/offer",
        "expires_at": "2020-01-31T12:00:00+00:00"})
    assert response.status_code == 422
    assert "passed" in response.json["error"]["fields"]["expires_at"][0]


def test_on_a_phone_a_mini_preview_follows_the_form(owner, open_tab):
    """390 px: the full preview sits above the form; once it has scrolled away a small copy
    stays in view, changes with the form, says when the design would not scan, and a tap
    brings the full preview back. On a desktop the preview is beside the form: no copy."""
    tab = open_tab("phone")
    tab.goto("/qr/new")
    tab.locator("#content-url-url").fill("https://example.com/phone")
    preview_settled(tab)
    mini = tab.locator("#qr-mini-preview")
    expect(mini).to_be_hidden()  # the full preview is in view
    tab.locator("#module_style").scroll_into_view_if_needed()
    expect(tab.locator("#qr-preview-box")).not_to_be_in_viewport()
    expect(mini).to_be_visible()
    expect(mini).to_contain_text("Scans")
    box = mini.bounding_box()
    assert box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
    first = mini.locator("img").get_attribute("src")
    assert first == tab.locator("#qr-preview .qr-preview-img").get_attribute("src")

    tab.locator("#module_style").select_option("dots")
    preview_settled(tab)
    expect(mini.locator("img")).not_to_have_attribute("src", first)
    assert (mini.locator("img").get_attribute("src")
            == tab.locator("#qr-preview .qr-preview-img").get_attribute("src"))
    # Too little contrast: the mini preview says so without scrolling up.
    tab.locator("#foreground").fill("#fefefe")
    tab.locator("#foreground").dispatch_event("change")
    preview_settled(tab)
    expect(mini).to_contain_text("Would not scan")
    tab.locator("#foreground").fill("#000000")
    tab.locator("#foreground").dispatch_event("change")
    preview_settled(tab)
    expect(mini).to_contain_text("Scans")
    assert sideways_overflow(tab) <= 0

    mini.click()
    expect(tab.locator("#qr-preview-box")).to_be_in_viewport()
    expect(mini).to_be_hidden()

    desk = open_tab("desktop")
    desk.goto("/qr/new")
    desk.locator("#content-url-url").fill("https://example.com/desk")
    preview_settled(desk)
    desk.locator("#qr-form button[type=submit]").scroll_into_view_if_needed()
    expect(desk.locator("#qr-mini-preview")).to_be_hidden()
