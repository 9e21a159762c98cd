"""The webhook pages in Chromium, on a laptop and on a phone: add an endpoint with the events
picker, copy the secret, send a test event, watch a retry land in the log without reloading,
redeliver; axe-core finds nothing serious and nothing scrolls sideways."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from qrplatform.testing.a11y import axe_violations
from qrplatform.testing.browser import log_in, on_errors, sideways_overflow

from .conftest import make_code, relay, run_delayed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go (WEBHOOKS_SCREENSHOTS to keep them for a look)."""
    return os.environ.get("WEBHOOKS_SCREENSHOTS") or str(tmp_path)


def check(page, width, shots, name):
    problems = axe_violations(page)
    assert not problems, (width, name, problems)
    if width == "phone":
        overflow = sideways_overflow(page)
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px on a phone"
    page.screenshot(path=f"{shots}/{width}-{name}.png", full_page=True)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_webhooks_in_the_browser(width, app, browser, live_server, owner, webhook_receiver,
                                 local_hooks, runner, db, shots, monkeypatch):
    from qrplatform.auth.models import User

    monkeypatch.setitem(app.config, "QRP_WEBHOOK_RETRY_SCHEDULE", [3])
    email = db.session.get(User, owner.user_id).email
    context = browser.new_context(base_url=live_server, viewport=WIDTHS[width],
                                  is_mobile=width == "phone")
    page = context.new_page()
    errors = on_errors(page, console=False)
    try:
        log_in(page, email)
        page.goto("/settings/webhooks")
        expect(page.get_by_text("No endpoints yet")).to_be_visible()
        check(page, width, shots, "empty")

        page.get_by_label("Endpoint URL").fill(webhook_receiver.url)
        page.get_by_label("Description").fill("Order system")
        page.locator("summary", has_text="qr").click()  # open the qr area of the picker
        page.get_by_label("Every qr event (qr.*)").check()
        page.get_by_role("button", name="Add endpoint").click()
        secret_box = page.get_by_role("textbox", name="Signing secret")
        expect(secret_box).to_be_visible()
        webhook_receiver.secret = secret_box.input_value()
        assert webhook_receiver.secret.startswith("whsec_")
        check(page, width, shots, "added")

        page.get_by_role("button", name="Send test event").click()
        expect(page.locator("#deliveries")).to_contain_text("webhook.test")
        expect(page.locator("#deliveries")).to_contain_text("Delivered")
        assert webhook_receiver.received[0].payload["type"] == "webhook.test"

        # A retry due in a moment: the log refreshes itself until it lands.
        webhook_receiver.fail_next(1)
        make_code(owner, "Window poster")
        relay()
        page.reload()
        row = page.locator("#deliveries tbody tr", has_text="qr.created")
        expect(row).to_contain_text("Retrying")
        check(page, width, shots, "log")
        run_delayed(runner)
        expect(row).to_contain_text("Delivered", timeout=8000)

        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Redeliver").click()
        expect(page.get_by_text("Sending it again now")).to_be_visible()
        assert webhook_receiver.acknowledged.count(webhook_receiver.received[-1].message_id) \
            == 2

        page.locator("#deliveries").get_by_role("link", name="qr.created").click()
        expect(page.get_by_role("heading", name="Attempts")).to_be_visible()
        expect(page.locator(".attempts li")).to_have_count(3)
        check(page, width, shots, "delivery")
    finally:
        context.close()
    assert not errors, errors
