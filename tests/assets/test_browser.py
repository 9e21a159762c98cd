"""The media library in Chromium, at desktop and phone widths: files dropped on the page
upload one request each with their own progress bar, no reload; a bomb is refused beside its
file; the thumbnail replaces the placeholder once the job made it; the QR editor picks its
logo from the library."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import expect

from assets import files
from qrplatform.testing.browser import log_in, on_errors, sideways_overflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def tab(app, browser, live_server, monkeypatch):
    """A browser tab on the live server whose stored files are served by that server too
    (same origin, as the CSP wants); fails on JavaScript and CSP errors. A refused upload's
    4xx is what the test expects, so "failed to load" lines are not errors here."""
    monkeypatch.setattr(app.extensions["qrp.storage"], "base_url", f"{live_server}/files")
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    problems = on_errors(page, ignore=lambda message: "Failed to load resource" in message.text)
    yield page
    context.close()
    assert not problems, problems


def drop(page, selector: str, dropped: dict[str, tuple[bytes, str]]) -> None:
    """Drop real files on an element, as a person dragging them from their desktop does."""
    payload = [{"name": name, "type": kind, "data": base64.b64encode(data).decode()}
               for name, (data, kind) in dropped.items()]
    transfer = page.evaluate_handle("""(files) => {
        const transfer = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], f.name, {type: f.type}));
        }
        return transfer;
    }""", payload)
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


@pytest.mark.parametrize("width", WIDTHS)
def test_drag_and_drop_upload_with_progress_and_thumbnails(tab, create_user, width, tmp_path):
    page = tab
    create_user(email="ada@example.com", name="Ada")
    page.set_viewport_size(WIDTHS[width])
    log_in(page, "ada@example.com")
    page.goto("/assets/")
    expect(page.get_by_text("No files here yet")).to_be_visible()
    page.evaluate("window.reloaded = false")  # survives only if the page never reloads
    drop(page, "[data-asset-dropzone]", {
        "banner.png": (files.png(1600, 900, "#1d4ed8"), "image/png"),
        "menu.pdf": (files.pdf(2), "application/pdf"),
        "bomb.png": (files.png_bomb(), "image/png"),
    })
    uploads = page.locator("[data-asset-uploads] li")
    expect(uploads).to_have_count(3)
    for name in ("banner.png", "menu.pdf"):
        row = uploads.filter(has_text=name)
        expect(row.get_by_text("Uploaded.")).to_be_visible()
        assert row.locator("progress").evaluate("bar => bar.value") == 100
    bomb = uploads.filter(has_text="bomb.png")
    expect(bomb.get_by_role("alert")).to_contain_text("decompression bomb")
    assert bomb.locator("progress").count() == 0
    cards = page.locator(".asset-card")
    expect(cards).to_have_count(2)
    # The placeholder polls until the thumbnail job has run, then shows the picture.
    expect(cards.filter(has_text="banner").locator("img")).to_be_visible(timeout=15_000)
    expect(cards.filter(has_text="menu").locator("img")).to_be_visible(timeout=15_000)
    assert page.evaluate("window.reloaded") is False
    assert cards.filter(has_text="banner").get_by_text("1600\u00d7900").is_visible()
    no_sideways = sideways_overflow(page) <= 0
    assert no_sideways, "nothing scrolls sideways"
    page.screenshot(path=str(tmp_path / f"library-{width}.png"), full_page=True)

    page.get_by_role("link", name="menu").click()
    expect(page.get_by_role("heading", name="menu")).to_be_visible()
    expect(page.get_by_text("2", exact=True)).to_be_visible()


def test_the_qr_editor_picks_its_logo_from_the_library(tab, api, create_user):
    page = tab
    user = create_user(email="ada@example.com", name="Ada")
    owner = api(user)
    import io

    owner.post("/api/v1/assets", data={"file": (io.BytesIO(files.png(200, 200, "#e11d48")),
                                                "Brand.png")},
               content_type="multipart/form-data")
    log_in(page, "ada@example.com")
    page.goto("/qr/new")
    page.get_by_role("button", name="Choose from the library").click()
    page.locator("[data-asset-pick]", has_text="Brand").click()
    expect(page.locator("#logo-key")).to_have_value(
        str(owner.get("/api/v1/assets").json["items"][0]["id"]))
    expect(page.locator("#qr-logo-state")).to_contain_text("Logo: Brand.")
