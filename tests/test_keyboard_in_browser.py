"""Keyboard and focus in Chromium (#13's accessibility list) on the bulk and analytics pages:
the skip link comes first and leads into the page, everything Tab reaches shows a focus ring,
Esc closes the menus and the phone's drawer (the focus goes back to what opened them), and a
refused submit puts the focus on the error summary with what was typed still there."""

from __future__ import annotations

import pytest

from qrplatform.testing.browser import log_in, on_errors

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PAGES = ["/qr/bulk", "/analytics/", "/analytics/settings", "/analytics/alerts"]

FOCUSED = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return {
        what: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} `
              + `${(el.innerText || el.value || el.name || "").trim().slice(0, 30)}`,
        main: el.id === "main",
        ring: el.matches(":focus-visible") && style.outlineStyle !== "none"
              && parseFloat(style.outlineWidth) >= 2,
        onScreen: box.width > 0 && box.height > 0 && box.bottom > 0
                  && box.top < window.innerHeight,
    };
}"""


@pytest.fixture
def open_tab(browser, live_server, create_user):
    user = create_user(email="kim@example.com", name="Kim Keys")
    contexts, problems = [], []

    def opener(width="desktop"):
        context = browser.new_context(base_url=live_server, viewport=WIDTHS[width],
                                      is_mobile=width == "phone")
        contexts.append(context)
        tab = context.new_page()
        on_errors(tab, problems, console=False)
        log_in(tab, user.email)
        return tab

    yield opener
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.mark.parametrize("path", PAGES)
def test_the_skip_link_comes_first_and_every_focus_shows(open_tab, path):
    tab = open_tab()
    tab.goto(path)
    tab.wait_for_load_state("load")
    tab.keyboard.press("Tab")
    first = tab.evaluate(FOCUSED)
    assert first["what"].startswith("a Skip to content"), first
    assert first["onScreen"] and first["ring"], first
    tab.keyboard.press("Enter")
    assert tab.evaluate(FOCUSED)["main"], "the skip link did not lead into the page"
    # From the page's content on: each control the keyboard reaches says so with a ring.
    missing = []
    for _ in range(20):
        tab.keyboard.press("Tab")
        focused = tab.evaluate(FOCUSED)
        if focused["what"].startswith("body"):   # past the last control: out of the page
            break
        if not focused["ring"]:
            missing.append(focused["what"])
    assert not missing, f"no visible focus on {path}: {missing}"


def test_escape_closes_the_menu_and_the_drawer(open_tab):
    tab = open_tab("desktop")
    tab.goto("/analytics/")
    menu = tab.locator("header details.menu").last
    menu.locator("summary").click()
    assert menu.evaluate("d => d.open")
    tab.keyboard.press("Escape")
    assert not menu.evaluate("d => d.open")
    assert menu.locator("summary").evaluate("s => s === document.activeElement")

    phone = open_tab("phone")
    phone.goto("/qr/bulk")
    opener = phone.locator("[data-drawer-open]").first
    opener.click()
    drawer = phone.locator("#drawer")
    assert drawer.evaluate("d => d.open")
    phone.keyboard.press("Escape")
    assert not drawer.evaluate("d => d.open")
    assert opener.evaluate("b => b === document.activeElement")
    assert opener.get_attribute("aria-expanded") == "false"


def summary_has_focus(tab) -> bool:
    tab.wait_for_load_state("load")
    return tab.evaluate("() => document.activeElement?.matches('[data-error-summary]')")


def test_a_refused_submit_focuses_the_summary_and_keeps_what_was_typed(open_tab):
    tab = open_tab()
    tab.goto("/analytics/settings")
    tab.get_by_label("Keep scans for (days)").fill("30")
    tab.get_by_label("User agents containing (one per line)").fill("UptimeRobot\nPingdom")
    tab.get_by_label("Countries (two-letter codes)").fill("SG XYZ")
    tab.get_by_label("Country", exact=True).uncheck()
    tab.get_by_role("button", name="Save").click()
    assert summary_has_focus(tab)
    summary = tab.locator("[data-error-summary]").inner_text()
    assert "Not two-letter country codes: XYZ" in summary, summary
    assert tab.get_by_label("Keep scans for (days)").input_value() == "30"
    assert tab.get_by_label("User agents containing (one per line)").input_value() == \
        "UptimeRobot\nPingdom"
    assert tab.get_by_label("Countries (two-letter codes)").input_value() == "SG XYZ"
    assert not tab.get_by_label("Country", exact=True).is_checked()
    # The summary's link takes the focus to the field at fault.
    tab.locator("[data-error-summary] a").first.click()
    assert tab.get_by_label("Countries (two-letter codes)").evaluate(
        "i => i === document.activeElement")

    tab.goto("/analytics/alerts")
    tab.get_by_label("When").select_option("drop")
    tab.get_by_label("Send by").select_option("sms")
    tab.get_by_label("To (e-mail address or +phone number)").fill("not a number")
    tab.get_by_role("button", name="Add rule").click()
    assert summary_has_focus(tab)
    assert tab.get_by_label("When").input_value() == "drop"
    assert tab.get_by_label("Send by").input_value() == "sms"
    assert tab.get_by_label("To (e-mail address or +phone number)").input_value() == \
        "not a number"
