"""A person in a real browser: sign up, log in, make an API token, call the API with it."""

import pytest
import requests

from qrplatform.testing.browser import sideways_overflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_signup_login_token_and_api_call(page, live_server, tmp_path):
    page.goto("/signup")
    page.get_by_label("Your name").fill("Grace")
    page.get_by_label("E-mail").fill("grace@example.com")
    page.get_by_label("Password").fill("a long password")
    page.locator("main").get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/dashboard")
    assert page.locator("h1").inner_text() == "Grace's workspace"

    page.get_by_text("Grace", exact=True).click()  # the account menu
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.get_by_label("E-mail").fill("grace@example.com")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")

    page.goto("/settings/tokens")
    page.get_by_placeholder("Token name, e.g. iPhone app").fill("Phone")
    page.get_by_role("button", name="Create token").click()  # swapped in by htmx
    token = page.locator("#new-token").input_value()
    assert token.startswith("qrp_")
    assert page.url.endswith("/settings/tokens")  # no full page load
    page.screenshot(path=str(tmp_path / "tokens.png"), full_page=True)

    me = requests.get(f"{live_server}/api/v1/me", timeout=10,
                      headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["user"]["email"] == "grace@example.com"


def test_pages_fit_a_phone(browser, live_server, create_user):
    create_user(email="phone@example.com", password="a long password")
    context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 740},
                                  is_mobile=True)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("E-mail").fill("phone@example.com")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")
    for path in ("/dashboard", "/settings/tokens", "/qr", "/qr/new", "/analytics", "/team",
                 "/team/audit"):
        page.goto(path)
        overflow = sideways_overflow(page)
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
    context.close()
