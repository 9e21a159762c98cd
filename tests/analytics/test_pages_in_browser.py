"""The analytics pages in Chromium: charts drawn (no CSP or JavaScript error), numbers in
tables, the live counter moving without a reload, and the pages fitting a phone."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest

from qrp_analytics.ingest import ingest_batch
from qrplatform.tenancy import unscoped
from qrplatform.testing.browser import on_errors, sideways_overflow

from .conftest import GOOGLEBOT, SLACKBOT, make_code
from .test_alerts_and_exports import history

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "a long password"
SCREENSHOTS = os.environ.get("QRP_SCREENSHOTS")  # a folder, to look at the pages by eye


@pytest.fixture
def seeded(app, api, create_user):
    user = create_user(email="analyst@example.com", password=PASSWORD)
    owner = api(user)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    menu = make_code(owner, name="Restaurant menu")
    poster = make_code(owner, name="Concert poster")
    events = history(menu, owner.workspace_id, now - timedelta(days=40), now, 2.0, 1)
    events += history(poster, owner.workspace_id, now - timedelta(days=40), now, 0.7, 2)
    events += history(poster, owner.workspace_id, now - timedelta(days=10), now, 0.2, 3,
                      agent=GOOGLEBOT, classification="bot", reason="Googlebot")
    events += history(menu, owner.workspace_id, now - timedelta(days=10), now, 0.1, 4,
                      agent=SLACKBOT, classification="preview", reason="Slackbot")
    with unscoped():
        ingest_batch(events)
    return owner, menu


def log_in(page):
    page.goto("/login")
    page.get_by_label("E-mail").fill("analyst@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")


def charts_drawn(page) -> dict:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        'canvas[data-chart]')].map(c => [c.id, Boolean(c.chart) && c.width > 0]))""")


def test_the_dashboard_draws_its_charts(page, seeded):
    log_in(page)
    page.goto("/analytics/")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn]').length >= 6")
    drawn = charts_drawn(page)
    assert {"chart-humans", "chart-classes", "chart-reasons", "chart-top-codes",
            "chart-country", "chart-device"} <= set(drawn)
    assert all(drawn.values()), drawn
    # The numbers are there as a table too, and on hover.
    page.locator("#chart-top-codes").locator("xpath=../..").get_by_text("Numbers").click()
    assert page.get_by_role("rowheader", name="Restaurant menu").is_visible()
    chart = page.locator("#chart-humans")
    box = chart.bounding_box()
    chart.hover(position={"x": box["width"] * 0.6, "y": box["height"] * 0.5})
    page.wait_for_function(
        "() => document.getElementById('chart-humans').chart.tooltip.getActiveElements().length")
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/dashboard.png", full_page=True)
    # Another range swaps the insights without a reload, and redraws.
    page.get_by_label("Range").select_option("7d")
    page.wait_for_url(re.compile(r"range=7d"))
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn]').length >= 6")
    assert "to" in page.locator("#insights p.muted").first.inner_text()


def test_count_axes_step_in_whole_scans(page, seeded):
    """A code scanned a few times: its axes count 0, 1, 2, not 0.5 and 1.5 of a scan."""
    owner, _menu = seeded
    rare = make_code(owner, name="Rare flyer")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    events = history(rare, owner.workspace_id, now - timedelta(hours=2), now, 1.5, 5)
    assert 0 < len(events) < 8, len(events)       # few enough for a chart to halve its steps
    with unscoped():
        ingest_batch(events)
    log_in(page)
    page.goto(f"/analytics/codes/{rare['id']}")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn]').length >= 6")
    ticks = page.evaluate("""() => [...document.querySelectorAll('canvas[data-drawn]')].flatMap(
        (canvas) => Object.values(canvas.chart.scales).filter((scale) => scale.type === 'linear')
            .flatMap((scale) => scale.ticks.map((tick) => tick.value)))""")
    assert ticks and all(float(value).is_integer() for value in ticks), ticks


def test_a_codes_live_counter_moves_without_a_reload(app, page, live_server, seeded):
    _owner, menu = seeded
    log_in(page)
    page.goto(f"/analytics/codes/{menu['id']}")
    page.wait_for_function("() => document.querySelector('#chart-forecast[data-drawn]')")
    counter = page.locator("[data-live=humans]")
    before = int(counter.inner_text().replace(",", ""))
    page.evaluate("window.liveMarker = 1")  # gone if the page reloads
    import requests

    for _i in range(3):
        response = requests.get(f"{live_server}/r/{menu['short_code']}",
                                allow_redirects=False, headers={
                                    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 "
                                                  "like Mac OS X) Mobile/15E148 Safari/604.1"})
        assert response.status_code == 302
    assert app.extensions["qrp.stream"].flush() == 3
    page.wait_for_function(f"() => Number(document.querySelector('[data-live=humans]')"
                           f".innerText.replace(/,/g, '')) === {before + 3}", timeout=12000)
    assert page.evaluate("window.liveMarker") == 1
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/code.png", full_page=True)


def test_the_pages_fit_a_phone(browser, live_server, seeded):
    context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 740},
                                  is_mobile=True)
    page = context.new_page()
    errors = on_errors(page, console=False)
    log_in(page)
    _owner, menu = seeded
    for path in ("/analytics/", f"/analytics/codes/{menu['id']}", "/analytics/settings",
                 "/analytics/alerts"):
        page.goto(path)
        overflow = sideways_overflow(page)
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/phone{path.replace('/', '_')}.png",
                            full_page=True)
    assert not errors
    context.close()


def labelled(page, name: str) -> bool:
    """The control named ``name`` has a visible <label> of that text (not only aria-label)."""
    control = page.get_by_label(name, exact=True)
    control_id = control.get_attribute("id")
    label = page.locator(f"label[for='{control_id}']")
    return control.is_visible() and label.is_visible() and label.inner_text().strip() == name


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_range_controls_are_labelled_and_nothing_to_compare_is_said_once(
        browser, live_server, seeded, scheme):
    from qrplatform.testing.a11y import axe_violations

    context = browser.new_context(base_url=live_server, color_scheme=scheme)
    page = context.new_page()
    errors = on_errors(page, console=False)
    log_in(page)
    page.goto("/analytics/")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn]').length >= 6")
    assert labelled(page, "Range") and labelled(page, "Group by")
    # Forty days of scans: the last 30 days compare with the 30 before, card by card.
    compare = page.locator("[data-compare]")
    assert "compared with" in compare.inner_text()
    assert page.locator(".kpi [data-change]").count() >= 2
    # Chart text in the page's muted colour (light or dark), like the rest of the text.
    muted = page.evaluate("getComputedStyle(document.documentElement)"
                          ".getPropertyValue('--c-text-muted').trim()")
    assert muted and page.evaluate("window.Chart.defaults.color") == muted
    assert axe_violations(page) == [], scheme

    # 90 days back, the 90 before hold nothing: said once for the page, on no card.
    page.get_by_label("Range", exact=True).select_option("90d")
    page.wait_for_url(re.compile(r"range=90d"))
    page.wait_for_function("() => document.querySelector('[data-compare]')"
                           ".innerText.includes('nothing to compare with')")
    text = page.locator("#insights").inner_text()
    assert text.lower().count("nothing to compare with") == 1, text
    assert page.locator(".kpi [data-change]").count() == 0

    # Custom dates have labels too; choosing them shows "Custom dates" as the range, and a
    # preset afterwards forgets them.
    page.locator("summary", has_text="Custom dates").click()
    assert labelled(page, "First day") and labelled(page, "Last day")
    end = datetime.now(UTC).date()
    page.get_by_label("First day").fill((end - timedelta(days=13)).isoformat())
    page.get_by_label("Last day").fill(end.isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"start=\d{4}-"))
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    assert page.get_by_label("Range", exact=True).evaluate(
        "s => s.options[s.selectedIndex].text") == "Custom dates"
    assert f"{end - timedelta(days=13)} to {end}" in page.locator("[data-compare]").inner_text()
    page.get_by_label("Range", exact=True).select_option("7d")
    page.wait_for_url(re.compile(r"range=7d"))
    assert "start=2" not in page.url
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    assert f"{end - timedelta(days=6)} to {end}" in page.locator("[data-compare]").inner_text()
    assert axe_violations(page) == [], scheme
    assert not errors
    context.close()
