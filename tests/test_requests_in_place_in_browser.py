"""In-place actions (htmx) that cannot be answered say so: a session that ended sends the
browser to the login page and back, a refusal shows the server's words at the bottom of the
window, and a server out of reach is named (htmx alone swaps nothing and says nothing)."""

import pytest

from qrplatform.testing.browser import log_in
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def tab(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def choose_a_csv(tab, tmp_path, name="codes.csv"):
    path = tmp_path / name
    path.write_text("name,url\nMenu,https://example.com/menu\n")
    tab.get_by_label("CSV file").set_input_files(str(path))


def test_after_the_session_ended_an_in_place_action_leads_to_login_and_back(
        tab, create_user, tmp_path):
    user = create_user()
    log_in(tab, user.email)
    tab.goto("/qr/bulk")
    tab.context.clear_cookies()          # the session ends (expired, or ended elsewhere)
    choose_a_csv(tab, tmp_path)          # the file is checked in place (htmx)
    tab.wait_for_url("**/login?next=%2Fqr%2Fbulk")
    assert tab.locator("#flash").inner_text().strip() == \
        "Your session has ended: log in again to carry on."
    assert tab.locator(".error-page, .bulk-check").count() == 0
    tab.get_by_label("E-mail").fill(user.email)
    tab.get_by_label("Password").fill(DEFAULT_PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url("**/qr/bulk")


def test_a_refused_or_unreachable_in_place_action_says_why_at_the_bottom(
        tab, browser, create_user, tmp_path):
    user = create_user()
    log_in(tab, user.email)
    tab.goto("/qr/bulk")
    problem = tab.locator("[data-request-problem]")
    assert problem.is_hidden()
    # Logged out and in again in another tab: this page's form is of the older session.
    other = tab.context.new_page()
    other.goto("/dashboard")
    other.locator("form[action$='/logout']").first.evaluate("form => form.submit()")
    other.wait_for_url("**/login")
    log_in(other, user.email)
    other.close()
    choose_a_csv(tab, tmp_path)
    problem.wait_for(state="visible")
    text = problem.locator("[data-request-problem-text]")
    tab.wait_for_function("() => document.querySelector('[data-request-problem-text]')"
                          ".textContent.length > 0")
    assert "This page is out of date" in text.inner_text()
    assert problem.locator("[role=alert]").count() == 1
    box = problem.bounding_box()
    assert box["y"] + box["height"] <= 844 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    problem.get_by_role("button", name="Dismiss").click()
    assert problem.is_hidden()
    # The server out of reach.
    tab.reload()
    tab.route("**/qr/bulk/check", lambda route: route.abort("connectionrefused"))
    choose_a_csv(tab, tmp_path)
    problem.wait_for(state="visible")
    tab.wait_for_function("() => document.querySelector('[data-request-problem-text]')"
                          ".textContent.includes('could not be reached')")
    # The same action working again takes the alert away.
    tab.unroute("**/qr/bulk/check")
    choose_a_csv(tab, tmp_path, "again.csv")
    problem.wait_for(state="hidden")
