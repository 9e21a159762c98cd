"""The billing pages in Chromium: the plans and usage meters, the checkout redirect to Stripe's
page and back, and the banner of a failed payment on another page; axe-core finds nothing
serious at desktop and phone widths, and nothing scrolls sideways on a phone."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from qrp_billing.models import BillingAccount
from qrplatform.extensions import db as database
from qrplatform.tenancy import tenant_scope
from qrplatform.testing.a11y import axe_violations
from qrplatform.testing.browser import log_in, on_errors, served, sideways_overflow
from tests.billing.conftest import make_codes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go (BILLING_SCREENSHOTS to keep them for a look)."""
    return os.environ.get("BILLING_SCREENSHOTS") or str(tmp_path)


@pytest.fixture
def tab(browser, shop):
    with served(shop.app) as base_url:
        context = browser.new_context(base_url=base_url)
        page = context.new_page()
        problems = on_errors(page)
        yield page
        context.close()
    assert not problems, problems


def check_page(page, shots, name):
    assert axe_violations(page) == []
    page.screenshot(path=f"{shots}/{name}-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert sideways_overflow(page) <= 1
    assert axe_violations(page) == []
    page.screenshot(path=f"{shots}/{name}-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_plans_meters_checkout_and_back(tab, shop, stripe_server, stripe_events,
                                        plans_in_stripe, shots):
    make_codes(shop.owner, 21)
    log_in(tab, "olga@example.com")
    tab.goto("/billing")
    expect(tab.get_by_role("heading", name="Plan and usage")).to_be_visible()
    meter = tab.locator('[data-quota="qr.dynamic_codes"]')
    expect(meter.get_by_role("progressbar")).to_have_attribute("value", "21")
    expect(meter).to_contain_text("21 of 25 · 84 %")
    expect(meter).to_contain_text("Nearly full")
    expect(tab.locator("[data-plan]")).to_have_count(4)
    check_page(tab, shots, "billing")

    tab.get_by_role("link", name="Yearly · two months free").click()
    expect(tab.locator('[data-plan="pro"]')).to_contain_text("$150")
    tab.locator('[data-plan="pro"]').get_by_role("button", name="Upgrade to Pro").click()
    tab.wait_for_url(f"{stripe_server.url}/pay/cs_test_*")  # Stripe Checkout's page
    expect(tab.get_by_role("heading", name="Stripe Checkout (test)")).to_be_visible()

    # The person pays; Stripe tells the app, then sends the person back.
    [session] = stripe_server.checkout_sessions.values()
    completed = stripe_server.complete_checkout(session["id"])
    assert stripe_events.post(shop.app.test_client(), stripe_events.build(
        "checkout.session.completed", completed)).status_code == 200
    tab.goto(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
             .replace("http://localhost", ""))
    expect(tab.locator("#billing-status")).to_contain_text("Pro plan")
    expect(tab.locator("#billing-status")).to_contain_text("Active")
    expect(tab.locator(".flash-success")).to_contain_text("Thank you")
    expect(tab.get_by_role("button", name="Card, invoices and cancellation")).to_be_visible()
    check_page(tab, shots, "billing-pro")


def test_a_failed_payment_shows_on_every_page(tab, shop, shots):
    with shop.app.app_context(), tenant_scope(shop.workspace_id):
        database.session.add(BillingAccount(
            status="past_due", subscribed_plan="pro", interval="month",
            stripe_customer_id="cus_browser", stripe_subscription_id="sub_browser",
            past_due_since=datetime.now(UTC), grace_ends_at=datetime.now(UTC)
            + timedelta(days=7)))
        database.session.commit()
    from qrplatform.testing.pytest_plugin import set_plan

    with shop.app.app_context():
        set_plan(shop.workspace_id, "pro")
    log_in(tab, "olga@example.com")
    tab.goto("/qr/")
    banner = tab.locator('[data-banner="past_due"]')
    expect(banner).to_contain_text("A payment failed. Pro stays until")
    banner.get_by_role("link", name="Update the card").click()
    tab.wait_for_url("**/billing")
    expect(tab.locator("#billing-status")).to_contain_text("Payment failed")
    check_page(tab, shots, "billing-past-due")
