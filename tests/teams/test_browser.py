"""The teams pages in Chromium: invite from the team page, set up an authenticator app and
sign in with it, filter the audit log with htmx; every page fits a phone."""

import os
import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from qrplatform.events import outbox
from qrplatform.testing.browser import sideways_overflow
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go (TEAMS_SCREENSHOTS to keep them for a look)."""
    return os.environ.get("TEAMS_SCREENSHOTS") or str(tmp_path)


def log_in(page, email, password=DEFAULT_PASSWORD):
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_invite_enrol_two_step_and_sign_in(page, team, shots):
    log_in(page, "olive@example.com")
    page.wait_for_url("**/dashboard")
    page.get_by_role("link", name="Team", exact=True).first.click()
    page.wait_for_url("**/team")
    page.locator("#invite").get_by_label("E-mail").fill("newbie@example.com")
    page.locator("#invite").get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_url("**/team")
    assert "Invitation sent to newbie@example.com." in page.locator("#flash").inner_text()
    assert "newbie@example.com" in page.locator("#invitations").inner_text()
    page.screenshot(path=f"{shots}/team.png", full_page=True)

    page.get_by_label("Role of Vera Viewer").select_option("editor")
    page.once("dialog", lambda dialog: dialog.accept())  # "Change the role of ...?"
    page.get_by_role("button", name="Save the role of Vera Viewer").click()
    expect(page.locator("#flash")).to_contain_text("Vera Viewer is now editor.")
    page.once("dialog", lambda dialog: dialog.accept())  # "Withdraw the invitation to ...?"
    page.locator("#invitations").get_by_role("button", name="Revoke").click()
    expect(page.locator("#flash")).to_contain_text("The invitation to newbie@example.com is "
                                                   "withdrawn")
    expect(page.locator("#invitations")).to_have_count(0)

    page.goto("/settings/two-step")
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.wait_for_url("**/settings/two-step")
    assert page.locator("img.totp-qr").evaluate("img => img.naturalWidth") > 100
    secret = page.locator("#totp-secret").inner_text()
    page.screenshot(path=f"{shots}/enrol.png", full_page=True)
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"\w{4}-\w{4}-\w{4}", c) for c in codes)
    page.screenshot(path=f"{shots}/recovery.png", full_page=True)

    page.get_by_text("Olive Owner", exact=True).click()  # the account menu
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    log_in(page, "olive@example.com")
    page.wait_for_url("**/login/two-step")
    page.screenshot(path=f"{shots}/two-step.png", full_page=True)
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard")


def test_a_role_changes_only_when_saved_and_confirmed(page, api, team):
    """One arrow key in the role list changes nothing; Save asks first; Owner is no choice
    there (handing over ownership is its own confirmed action)."""
    owner = api(team.owner)

    def role(user):
        return owner.get(f"/api/v1/teams/members/{user.id}").json["role"]

    log_in(page, "olive@example.com")
    page.wait_for_url("**/dashboard")
    page.goto("/team")
    vera = page.get_by_label("Role of Vera Viewer")
    assert "owner" not in vera.locator("option").evaluate_all("os => os.map(o => o.value)")
    vera.focus()
    vera.press("ArrowDown")
    expect(vera).to_have_value("billing")
    page.wait_for_timeout(600)
    assert page.url.endswith("/team") and role(team.viewer) == "viewer"

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Save the role of Vera Viewer").click()
    page.wait_for_timeout(300)
    assert asked and "Change the role of Vera Viewer?" in asked[0]
    assert role(team.viewer) == "viewer"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Save the role of Vera Viewer").click()
    expect(page.locator("#flash")).to_contain_text("Vera Viewer is now billing.")
    assert role(team.viewer) == "billing"

    # Owner sent anyway (an old page): refused, nobody becomes owner that way.
    page.get_by_label("Role of Adam Admin").evaluate(
        "s => { s.add(new Option('Owner', 'owner')); s.value = 'owner'; }")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Save the role of Adam Admin").click()
    expect(page.locator("#flash")).to_contain_text("Choose one of the roles.")
    assert role(team.admin) == "admin"

    # Ownership goes by its own action, which asks first too.
    page.get_by_label("New owner").select_option(label="Adam Admin <adam@example.com>")
    asked.clear()
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Transfer ownership").click()
    page.wait_for_timeout(300)
    assert asked and "over?" in asked[0] and role(team.admin) == "admin"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Transfer ownership").click()
    expect(page.locator("#flash")).to_contain_text("Adam Admin owns")
    assert role(team.admin) == "owner"


def test_audit_log_filters_without_a_page_load(page, api, team, db, shots):
    owner = api(team.owner)
    for name in ("ann", "bob", "cyd"):
        owner.post("/api/v1/teams/invitations", json={"email": f"{name}@example.com",
                                                      "role": "viewer"})
    outbox.drain()
    log_in(page, "olive@example.com")
    page.wait_for_url("**/dashboard")
    page.goto("/team/audit")
    assert page.locator("#audit-results tbody tr").count() >= 4
    page.evaluate("window.marker = 'same page'")
    page.get_by_label("Search").fill("bob@")
    expect(page.locator("#audit-results tbody tr")).to_have_count(1)
    assert "invited bob@example.com as viewer" in page.locator("#audit-results").inner_text()
    assert page.evaluate("window.marker") == "same page"  # swapped in by htmx
    assert "q=bob%40" in page.url or "q=bob@" in page.url
    page.screenshot(path=f"{shots}/audit.png", full_page=True)


def test_team_pages_fit_a_phone(browser, live_server, team, shots):
    context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 740},
                                  is_mobile=True)
    phone = context.new_page()
    log_in(phone, "olive@example.com")
    phone.wait_for_url("**/dashboard")
    for path in ("/team", "/team/audit", "/settings/two-step", "/settings/tokens"):
        phone.goto(path)
        overflow = sideways_overflow(phone)
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
        phone.screenshot(path=f"{shots}/phone{path.replace('/', '-')}.png", full_page=True)
    context.close()
