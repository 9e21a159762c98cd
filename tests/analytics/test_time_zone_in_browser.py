"""The workspace's time zone as a person meets it in Chromium: taken from the browser at
sign-up, changed in the workspace settings, and named where analytics shows its days."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_time_zone_from_sign_up_to_the_analytics_page(browser, live_server):
    context = browser.new_context(base_url=live_server, timezone_id="Pacific/Auckland")
    page = context.new_page()
    try:
        page.goto("/signup")
        page.get_by_label("Your name").fill("Aroha")
        page.get_by_label("E-mail").fill("aroha@example.com")
        page.get_by_label("Password").fill("a long password")
        page.locator("main").get_by_role("button", name="Sign up").click()
        page.wait_for_url("**/dashboard")

        page.goto("/settings/workspace")
        select = page.get_by_label("Time zone")
        assert select.input_value() == "Pacific/Auckland"  # the browser's, from sign-up
        page.goto("/analytics/")
        assert "(Pacific/Auckland)" in page.locator("[data-compare]").inner_text()

        page.goto("/settings/workspace")
        page.get_by_label("Time zone").select_option("America/Los_Angeles")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Workspace settings saved.").wait_for()
        page.goto("/analytics/?range=7d")
        assert "(America/Los_Angeles)" in page.locator("[data-compare]").inner_text()
    finally:
        context.close()
