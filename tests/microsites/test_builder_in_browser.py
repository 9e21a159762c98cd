"""The microsites builder in Chromium at 1280x800 and 390x844: a page from a starter, a block
added and edited in place with the preview following, blocks reordered by dragging (and from
the keyboard with Move up/down), published, and seen as a visitor; axe finds no serious
violation on the builder's pages nor on the published page, and nothing scrolls sideways on a
phone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qrplatform.testing.a11y import axe_violations
from qrplatform.testing.browser import log_in, on_errors, sideways_overflow
from qrplatform.testing.pytest_plugin import set_plan
from tests.microsites.test_analytics import IPHONE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SHOTS = Path(os.environ.get("QRP_SCREENSHOTS") or Path(__file__).parents[1] / "screenshots-out")


@pytest.fixture
def owner(api, create_user, live_server):
    user = create_user(email="mia@example.com", name="Mia Maker")
    caller = api(user)
    set_plan(caller.workspace_id, "business")
    return user, caller


@pytest.fixture
def open_tab(browser, live_server):
    """open_tab(width, signed_in=True) → a tab at that width; the test fails on any JavaScript
    or CSP error."""
    contexts, problems = [], []

    def opener(width, signed_in=True):
        context = browser.new_context(base_url=live_server, viewport=WIDTHS[width],
                                      is_mobile=width == "phone", has_touch=False)
        contexts.append(context)
        tab = context.new_page()
        # A form the service refuses answers 422 on purpose (the messages beside the fields);
        # the browser asks for /favicon.ico on its own.
        on_errors(tab, problems, ignore=expected)
        if signed_in:
            log_in(tab, "mia@example.com")
        return tab

    yield opener
    for context in contexts:
        context.close()
    assert not problems, problems


def expected(message) -> bool:
    return "status of 422" in message.text or message.location.get("url", "").endswith(
        "/favicon.ico")


def settle(tab):
    tab.wait_for_load_state("load")
    tab.wait_for_function("() => !document.querySelector('.htmx-request')")


def check_page(tab, width, name):
    settle(tab)
    problems = axe_violations(tab)
    assert not problems, problems
    if width == "phone":
        assert sideways_overflow(tab) <= 0
    (SHOTS / "microsites").mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / "microsites" / f"{name}-{width}.png"), full_page=True)


def block_ids(caller, site_id):
    return [b["id"] for b in caller.get(f"/api/v1/microsites/{site_id}").json["blocks"]]


def preview_text(tab):
    return tab.frame_locator("#ms-preview-frame").locator("body")


# Longer than a phone's line: the list shows it on one line, cut short.
OPENING = "Open every day from seven in the morning until late at night, breakfast to dinner"


@pytest.mark.parametrize("width", WIDTHS)
def test_build_reorder_publish_and_visit(app, owner, open_tab, width):
    _user, caller = owner
    tab = open_tab(width)

    tab.goto("/microsites/")
    check_page(tab, width, "list-empty")
    tab.get_by_role("button", name="Create a microsite").click()
    tab.get_by_label("Name").fill("Mia's links")
    tab.get_by_text("Link in bio", exact=True).click()
    tab.get_by_role("button", name="Create the page").click()
    tab.wait_for_url("**/microsites/*/")
    site_id = int(tab.url.rstrip("/").rsplit("/", 1)[-1])
    assert len(block_ids(caller, site_id)) == 5
    check_page(tab, width, "editor")
    assert preview_text(tab).get_by_text("Your name").first.is_visible()

    # Add a heading from the registry's list, in place.
    tab.get_by_text("Add a block").click()
    tab.locator("[data-add-type=heading]").click()
    tab.get_by_label("Text (required)").fill("Opening soon")
    tab.get_by_role("button", name="Add to the page").click()
    settle(tab)
    tab.locator("#ms-blocks .ms-block").nth(5).wait_for()
    assert "Opening soon" in tab.locator("#ms-blocks").inner_text()
    preview_text(tab).get_by_text("Opening soon").wait_for()
    ids = block_ids(caller, site_id)
    assert len(ids) == 6

    # Edit in place: a refusal shows beside the field, then the change reaches the preview.
    tab.get_by_role("button", name="Edit Heading").click()
    field = tab.get_by_label("Text (required)")
    field.fill("")
    tab.get_by_role("button", name="Save").click()
    tab.locator("#f-text-error").wait_for()
    check_page(tab, width, "editor-error")
    tab.get_by_label("Text (required)").fill(OPENING)
    tab.get_by_role("button", name="Save").click()
    preview_text(tab).get_by_text(OPENING).wait_for()
    assert caller.get(f"/api/v1/microsites/{site_id}").json["blocks"][5]["text"] == OPENING
    check_page(tab, width, "editor-long-line")  # a long line in the list stays on the phone

    # Reorder by dragging the heading's handle above the first block.
    handle = tab.locator(f"#block-{ids[5]} .ms-drag")
    target = tab.locator(f"#block-{ids[0]}")
    tab.evaluate("document.getElementById('ms-blocks').scrollIntoView({block: 'start'})")
    box, goal = handle.bounding_box(), target.bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.mouse.down()
    steps = 25   # a person's drag: slow enough for the list to make room as it passes
    for step in range(1, steps + 1):
        tab.mouse.move(box["x"] + box["width"] / 2,
                       box["y"] + (goal["y"] + 2 - box["y"]) * step / steps)
        tab.wait_for_timeout(60)
    tab.wait_for_timeout(300)
    tab.mouse.up()
    tab.wait_for_function(
        f"() => document.querySelector('#ms-blocks .ms-block')?.dataset.blockId === '{ids[5]}'"
        " && !document.querySelector('.htmx-request')")
    tab.locator("#ms-announce").get_by_text("position 1 of 6").wait_for()
    assert block_ids(caller, site_id)[0] == ids[5]

    # The same from the keyboard: Move down keeps the focus on the button.
    move = tab.get_by_role("button", name="Move down: Heading")
    move.focus()
    tab.keyboard.press("Enter")
    tab.locator("#ms-announce").get_by_text("position 2 of 6").wait_for()
    settle(tab)
    assert block_ids(caller, site_id)[1] == ids[5]
    assert tab.evaluate("document.activeElement.id") == f"move-down-{ids[5]}"

    # Undo the last change (the move), from the toolbar.
    tab.get_by_role("button", name="Undo").click()
    tab.locator("#ms-announce").get_by_text("Undone").wait_for()
    assert block_ids(caller, site_id)[0] == ids[5]

    # The look: another theme.
    tab.get_by_role("link", name="Look").click()
    check_page(tab, width, "look")
    tab.get_by_text("Forest", exact=True).click()   # saved at once; the form comes back
    tab.wait_for_function("() => document.getElementById('accent')?.value === '#15803d'")
    settle(tab)
    assert caller.get(f"/api/v1/microsites/{site_id}").json["theme"]["name"] == "forest"
    tab.get_by_label("Buttons").fill("#7c2d12")        # a colour of one's own
    tab.get_by_label("Buttons").dispatch_event("change")
    tab.wait_for_function("() => !document.querySelector('.htmx-request')")
    tab.wait_for_timeout(300)
    settle(tab)
    assert caller.get(f"/api/v1/microsites/{site_id}").json["theme"] == {
        "name": "forest", "accent": "#7c2d12"}
    # The look saved as a workspace preset, listed to use on any page.
    tab.get_by_label("Save this page's look as a preset").fill("Autumn")
    tab.get_by_role("button", name="Save preset").click()
    tab.get_by_role("button", name="Use the preset Autumn").wait_for()
    check_page(tab, width, "look-presets")
    assert caller.get("/api/v1/microsites/theme-presets").json["items"][0]["theme"] == {
        "name": "forest", "accent": "#7c2d12"}
    for section in ("Settings", "History", "Leads", "Stats"):
        tab.get_by_role("link", name=section).click()
        check_page(tab, width, section.lower())
    assert tab.get_by_text("No visits yet").is_visible()

    # Publish, then look at it as a visitor.
    tab.get_by_role("button", name="Publish").click()
    settle(tab)
    published = caller.get(f"/api/v1/microsites/{site_id}").json
    assert published["status"] == "published"
    assert "Published" in tab.locator("#ms-state").inner_text()
    visitor = open_tab(width, signed_in=False)
    # A phone's browser (headless Chromium names itself, and is counted as a bot).
    visitor.set_extra_http_headers({"User-Agent": IPHONE})
    visitor.goto(published["url"])
    settle(visitor)
    assert visitor.get_by_text(OPENING).is_visible()
    heading_first = visitor.locator(".ms-block").first.get_attribute("id")
    assert heading_first == f"block-{ids[5]}"
    check_page(visitor, width, "published")
    # The visit, through the stream, on the Stats tab (the stream flushes in the background).
    app.extensions["qrp.stream"].flush()
    tab.reload()
    tab.locator(".ms-stats-grid").wait_for()
    assert tab.locator(".stat-value").first.inner_text() == "1"
    check_page(tab, width, "stats-visited")

    tab.goto("/microsites/")
    check_page(tab, width, "list")
    assert tab.get_by_role("link", name="Mia's links").is_visible()


def test_the_text_editor_formats_and_the_page_keeps_only_clean_html(owner, open_tab):
    _user, caller = owner
    site = caller.post("/api/v1/microsites", json={"name": "Notes", "blocks": [
        {"type": "text", "html": "<p>Plain words here</p>"}]}).json
    tab = open_tab("desktop")
    tab.goto(f"/microsites/{site['id']}/")
    tab.get_by_role("button", name="Edit Text").click()
    # The toolbar appears once the script has swapped the plain textarea for the editable area
    # (both are the textbox "Text"); waiting for the textbox alone can catch the textarea.
    tab.get_by_role("toolbar", name="Formatting of text").wait_for()
    area = tab.get_by_role("textbox", name="Text")
    check_page(tab, "desktop", "editor-rich-text")
    area.click()
    tab.keyboard.press("Control+A")
    tab.get_by_role("button", name="Bold").click()
    tab.keyboard.press("End")
    tab.keyboard.type(" and more")
    tab.get_by_role("button", name="Save").click()
    settle(tab)
    tab.frame_locator("#ms-preview-frame").locator("b, strong").first.wait_for()
    html = caller.get(f"/api/v1/microsites/{site['id']}").json["blocks"][0]["html"]
    assert ("<b>" in html or "<strong>" in html) and "and more" in html, html
    assert "style=" not in html and "<span" not in html
