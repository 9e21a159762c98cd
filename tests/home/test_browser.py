"""The landing page, the home dashboard and the onboarding checklist in Chromium, at a laptop's
width (1280) and a phone's (390): what people see, axe-core's serious and critical findings
(none allowed), nothing scrolling sideways on a phone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qrplatform.events import outbox
from qrplatform.testing.a11y import axe_violations
from qrplatform.testing.browser import log_in, on_errors, sideways_overflow

from .makers import make_code, scan

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SHOTS = Path(os.environ.get("QRP_SCREENSHOTS") or Path(__file__).parents[1] / "screenshots-out")


def _shot(page, name: str) -> None:
    (SHOTS / "home").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "home" / f"{name}.png"), full_page=True)


def _fits(page) -> None:
    assert sideways_overflow(page) <= 0
    assert axe_violations(page) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_a_visitor_sees_the_landing_page(page, width):
    page.set_viewport_size(WIDTHS[width])
    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text() == "QR codes, done properly."
    points = page.locator(".hero-points li").all_inner_texts()
    assert points[:2] == ["Every code verified before it ships",
                          "Honest analytics, bots shown apart"]
    assert page.get_by_role("heading", name="Self-hostable").is_visible()
    _fits(page)
    _shot(page, f"landing-{width}")
    page.get_by_role("button", name="Create your free account").click()
    page.wait_for_url("**/signup")


@pytest.mark.parametrize("width", WIDTHS)
def test_home_cards(app, browser, live_server, api, create_user, width):
    user = create_user(email="ada@example.com", name="Ada Lovelace")
    owner = api(user)
    menu = make_code(owner, name="Restaurant menu")
    make_code(owner, name="Concert poster")
    with app.test_client() as scanner:
        for i in range(4):
            scan(scanner, menu, ip=f"203.0.113.{i}")
    assert app.extensions["qrp.stream"].flush() == 4
    outbox.drain()
    context = browser.new_context(base_url=live_server, viewport=WIDTHS[width],
                                  is_mobile=width == "phone")
    page = context.new_page()
    log_in(page, user.email)
    scans = page.locator("#home-scans")
    assert scans.locator(".stat-value").first.inner_text() == "4"
    assert scans.locator("svg.sparkline").count() == 2
    assert page.locator("#home-top-codes li").first.inner_text().startswith("Restaurant menu")
    assert page.locator("#home-codes li").count() == 2
    assert page.locator("#home-activity li").count() >= 2
    cards = {card: page.locator(f"#{card}").bounding_box()
             for card in ("home-scans", "home-top-codes", "home-codes", "home-activity")}
    if width == "desktop":  # the numbers first, side by side; codes and activity below
        assert cards["home-scans"]["y"] == cards["home-top-codes"]["y"]
        assert cards["home-codes"]["y"] == cards["home-activity"]["y"] > cards["home-scans"]["y"]
    else:  # one column
        xs = {round(box["x"]) for box in cards.values()}
        assert len(xs) == 1, cards
    _fits(page)
    _shot(page, f"home-{width}")
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_sign_up_then_the_checklist_follows_along_live(app, browser, live_server, width):
    import requests

    from .makers import IPHONE

    context = browser.new_context(base_url=live_server, viewport=WIDTHS[width],
                                  is_mobile=width == "phone", accept_downloads=True)
    page = context.new_page()
    errors = on_errors(page, console=False)
    page.goto("/")
    page.get_by_role("button", name="Create your free account").click()
    page.get_by_label("Name").fill("Nia Newcomer")
    page.get_by_label("E-mail").fill(f"nia-{width}@example.com")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/dashboard")
    checklist = page.locator("#onboarding")
    assert "0 of 5 done" in checklist.inner_text()
    assert checklist.locator(".check-item.is-next").get_attribute("data-step") == "qr.first_code"
    _fits(page)
    _shot(page, f"onboarding-start-{width}")

    # Create the first code from the checklist.
    checklist.get_by_role("link", name="Create a code").click()
    page.wait_for_url("**/qr/new")
    page.locator("#name").fill("Table card")
    page.locator("#content-url-url").fill("https://example.com/menu")
    page.get_by_role("button", name="Create QR code").click()
    page.wait_for_url("**/qr/*")
    page.goto("/dashboard")
    assert "1 of 5 done" in checklist.inner_text()
    step = checklist.locator("[data-step='qr.first_code']")
    assert "is-done" in step.get_attribute("class")

    # Download it: the list notices by itself (it polls while the next step happens elsewhere).
    page.evaluate("window.stillTheSamePage = 1")
    with page.expect_download() as download:
        checklist.get_by_role("button", name="PNG").click()
    assert download.value.suggested_filename.endswith(".png")
    scan_step = page.locator("#onboarding .check-item.is-next[data-step='analytics.first_scan']")
    scan_step.wait_for(timeout=10000)
    assert "Waiting for your first scan" in scan_step.inner_text()
    _fits(page)
    _shot(page, f"onboarding-waiting-{width}")

    # A phone scans the code: the step ticks itself off without a reload.
    short_url = scan_step.get_by_role("link").first.get_attribute("href")
    short_code = short_url.rstrip("/").rsplit("/", 1)[1]
    response = requests.get(f"{live_server}/r/{short_code}", allow_redirects=False,
                            headers={"User-Agent": IPHONE})
    assert response.status_code == 302
    assert app.extensions["qrp.stream"].flush() == 1
    page.locator("#onboarding [data-step='analytics.first_scan'].is-done").wait_for(
        timeout=10000)
    assert "Done just now." in checklist.inner_text()
    assert "3 of 5 done" in checklist.inner_text()
    assert page.evaluate("window.stillTheSamePage") == 1
    # The home's cards follow: the scan is counted and the code is on top.
    page.locator("#home-scans .stat-value", has_text="1").first.wait_for(timeout=10000)
    assert page.locator("#home-top-codes li").first.inner_text().startswith("Table card")
    _fits(page)
    _shot(page, f"onboarding-scanned-{width}")

    # Put it away.
    checklist.get_by_role("button", name="Dismiss").click()
    page.wait_for_url("**/dashboard")
    assert page.locator("#onboarding").count() == 0
    assert "put away" in page.locator(".flash").first.inner_text()
    assert not errors
    context.close()


def test_the_sign_up_page_promises_only_what_is_installed(make_app, db, browser):
    """#13: it promised microsites before that plugin existed. Its points are the enabled
    plugins' highlights; a bare app promises only the core's."""
    from qrplatform.testing.browser import served

    def points(app):
        with served(app) as base_url:
            context = browser.new_context(base_url=base_url)
            page = context.new_page()
            page.goto("/signup")
            text = page.locator("main").inner_text()
            context.close()
        return text

    bare = points(make_app(QRP_PLUGINS=[]))
    assert "Self-hostable" in bare
    for absent in ("microsite", "Microsite", "Mobile pages", "analytics", "Your own domain"):
        assert absent not in bare, absent
    full = points(make_app())
    assert "Mobile pages behind your codes" in full and "Your own domain" in full


def test_get_started_is_said_once(page, create_user):
    """The Get started page's title and its checklist's heading were the same words."""
    user = create_user(email="gus@example.com", name="Gus Starter")
    log_in(page, user.email)
    for path in ("/dashboard", "/onboarding"):
        page.goto(path)
        assert page.get_by_role("heading", name="Get started").count() <= 1, path
    assert page.get_by_role("heading", name="First steps").count() == 1
