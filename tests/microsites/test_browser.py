"""A published microsite in Chromium, at phone and desktop widths: axe-core finds no serious
violation, nothing scrolls sideways, no request leaves our origin before the visitor starts
the video (then only the privacy-friendly player), the CSP reports nothing, the Wi-Fi password
copies, the contact form sends."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from qrplatform.testing.a11y import axe_violations
from qrplatform.testing.browser import on_errors, sideways_overflow
from qrplatform.testing.pytest_plugin import set_plan

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


WIFI_PASSWORD = "EspressoMacchiatoCortadoFlatWhiteRistrettoLungoAmericano1234567"

def _upload(owner, name: str, fmt: str = "PNG", size=(640, 400)) -> int:
    buffer = io.BytesIO()
    Image.new("RGB", size, "#0e7490").save(buffer, fmt)
    buffer.seek(0)
    response = owner.post("/api/v1/assets", data={"file": (buffer, name)},
                          content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["id"]


def _every_block(owner) -> list[dict]:
    picture, avatar = _upload(owner, "terrace.png"), _upload(owner, "me.png", size=(200, 200))
    menu = _upload(owner, "menu.pdf", "PDF")
    return [
        {"type": "profile", "name": "Café Lumière", "bio": "Coffee & cake\nsince 1990",
         "avatar_asset_id": avatar},
        {"type": "heading", "text": "Welcome"},
        {"type": "text", "html": "<p>Fresh <strong>every</strong> morning. <a href="
                                 "'https://example.com'>Our story</a></p><ul><li>Cake</li></ul>"},
        {"type": "link", "label": "Order online", "url": "https://example.com/order",
         "icon": "shopping-cart"},
        {"type": "link", "label": "Call us", "url": "tel:+442079460000", "style": "secondary"},
        {"type": "image", "asset_id": picture, "alt": "The terrace", "caption": "Our terrace"},
        {"type": "gallery", "items": [{"asset_id": picture, "alt": "Terrace"},
                                      {"asset_id": avatar, "alt": "Owner"}]},
        {"type": "social", "links": [{"network": "instagram", "url": "https://instagram.com/x"},
                                     {"network": "x", "url": "https://x.com/x"},
                                     {"network": "linkedin", "url": "https://linkedin.com/in/x"},
                                     {"network": "email", "url": "mailto:hi@example.com"}]},
        {"type": "contact", "first_name": "Ada", "last_name": "Lovelace",
         "organization": "Café Lumière", "phone": "+44 20 7946 0000",
         "email": "reservations.private-events@cafe-lumiere-example.co.uk",
         "website": "https://example.com", "city": "London"},
        # As long as Wi-Fi allows, with nothing to break a line at: the phone must not scroll.
        {"type": "wifi", "ssid": "CafeLumiereGuestsUpstairsTerrace", "password": WIFI_PASSWORD},
        {"type": "video", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
         "title": "Our kitchen"},
        {"type": "map", "label": "Find us", "address": "1 High Street\nLondon",
         "latitude": 51.5072, "longitude": -0.1276},
        {"type": "hours", "days": [{"day": "mon", "opens": "08:00", "closes": "18:00"},
                                   {"day": "sun", "closed": True}], "note": "Holidays vary"},
        {"type": "pdf", "asset_id": menu, "label": "Our menu"},
        {"type": "divider"},
        {"type": "lead_form", "title": "Book a table",
         "fields": [{"name": "name", "required": True}, {"name": "email", "required": True},
                    {"name": "message"}], "consent": "We only use this to answer you."},
    ]


@pytest.mark.parametrize("theme", ["classic", "midnight", "forest", "sunset", "mono"])
def test_a_published_page_in_chromium(app, api, browser, live_server, theme):
    owner = api()
    set_plan(owner.workspace_id, "business")
    site = owner.post("/api/v1/microsites", json={"name": "Café", "theme": {"name": theme},
                                                  "blocks": _every_block(owner)})
    assert site.status_code == 201, site.json
    published = owner.post(f"/api/v1/microsites/{site.json['id']}/publish").json
    path = f"/m/{published['slug']}"
    for width, viewport in WIDTHS.items():
        context = browser.new_context(base_url=live_server, viewport=viewport,
                                      is_mobile=width == "phone")
        context.grant_permissions(["clipboard-read", "clipboard-write"],
                                  origin=live_server)
        page = context.new_page()
        problems, outside = on_errors(page), []

        def guard(route, *, outside=outside):
            if route.request.url.startswith(live_server):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", guard)
        page.goto(path)
        page.wait_for_load_state("load")
        assert not outside, f"requests left our origin before any click: {outside}"
        assert axe_violations(page) == [], (theme, width)
        overflow = sideways_overflow(page)
        assert overflow <= 0, f"{width}: scrolls sideways by {overflow}px"
        # A pill-shaped theme rounds its buttons, not its cards and pictures into ellipses.
        corners = page.evaluate(
            "[...document.querySelectorAll('.ms-card, .ms-image img, .ms-video-start')]"
            ".map(e => parseFloat(getComputedStyle(e).borderTopLeftRadius))")
        assert corners and max(corners) <= 20, (theme, corners)
        # Every picture loaded (from our own origin: the asset files).
        assert page.evaluate("[...document.images].every(i => i.complete && "
                             "i.naturalWidth > 0)")
        if width == "phone" and theme == "classic":
            page.get_by_role("button", name="Copy password").click()
            page.get_by_role("button", name="Copied").wait_for()
            assert page.evaluate("navigator.clipboard.readText()") == WIFI_PASSWORD
            with page.expect_request(lambda r: "youtube-nocookie.com" in r.url):
                page.get_by_role("link", name="Play video: Our kitchen").click()
            frame = page.locator("iframe[title='Our kitchen']")
            frame.wait_for()
            assert frame.get_attribute("src").startswith(
                "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ")
            assert outside and all(u.startswith("https://www.youtube-nocookie.com/")
                                   for u in outside)
            page.get_by_role("textbox", name="Name").fill("Grace")
            page.get_by_role("textbox", name="E-mail").fill("grace@example.com")
            page.get_by_role("button", name="Send").click()
            page.get_by_role("heading", name="Thank you").wait_for()
        context.close()
        assert not [p for p in problems if "youtube" not in p], problems
    leads = owner.get(f"/api/v1/microsites/{site.json['id']}/leads").json
    assert leads["total"] == (1 if theme == "classic" else 0)
