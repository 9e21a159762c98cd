"""Quotas that explain themselves: usage meters, 402s with what to do, warnings at 80 % and
100 % once a month, the redirect map on every plan, and the billing pages."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from flask import render_template
from sqlalchemy import select

from qrp_billing import services
from qrp_billing.models import BillingAccount, QuotaNotice
from qrplatform import quotas
from qrplatform.extensions import db as database
from qrplatform.jobs import Job
from qrplatform.notify import Notification
from qrplatform.tenancy import tenant_scope, unscoped
from qrplatform.testing.pytest_plugin import csrf_token, set_plan
from tests.billing.conftest import make_codes, run_cli


def warnings_sent(app) -> list[tuple[str, str]]:
    with app.app_context(), unscoped():
        return sorted(database.session.execute(select(Notification.recipient, Notification.subject)
                                               .where(Notification.template ==
                                                      "billing_quota_warning")).all())


def test_usage_shows_every_declared_quota_against_its_limit(shop):
    make_codes(shop.owner, 3)
    make_codes(shop.owner, 2, kind="static")
    usage = shop.owner.get("/api/v1/billing").json["usage"]
    measured = {key: (meter["used"], meter["limit"]) for key, meter in usage.items()}
    assert measured | {
        "api.requests_per_minute": (None, 120),
        "qr.codes": (5, 1000),
        "qr.dynamic_codes": (3, 25),
        "analytics.retention_days": (None, 90),
        "analytics.scans_per_month": (0, 10_000),
        "teams.seats": (3, 3),  # the owner, the billing member and the editor
    } == measured  # these and every other plugin's (assets, domains...)
    assert usage["teams.seats"]["state"] == "full"
    assert usage["analytics.scans_per_month"]["soft"] is True
    assert usage["analytics.scans_per_month"]["period"] == "month"


def test_the_plans_list_comes_from_the_declared_quotas(shop):
    plans = {row["plan"]: row for row in shop.editor.get("/api/v1/billing/plans").json}
    assert list(plans) == ["free", "pro", "business", "enterprise"]
    assert plans["pro"]["prices"] == {"month": "$15", "year": "$150"}
    assert plans["pro"]["limits"]["qr.dynamic_codes"] == "1,000"
    assert plans["business"]["limits"]["qr.dynamic_codes"] == "unlimited"
    assert plans["enterprise"]["limits"]["analytics.retention_days"] == "1,095"  # as business
    assert plans["enterprise"]["limits"]["api.requests_per_minute"] == "10,000"


def test_a_refusal_says_what_to_do_and_where_to_upgrade(shop):
    make_codes(shop.owner, 25)
    refused = shop.owner.post("/api/v1/qr-codes", json={
        "kind": "dynamic", "type": "url", "destination": "https://example.com/26"})
    assert refused.status_code == 402
    error = refused.json["error"]
    assert error["code"] == "quota_exceeded"
    assert error["message"] == (
        "Your Free plan allows 25 active dynamic QR codes; you have 25. Remove some first, or "
        "upgrade: the Pro plan allows 1,000. Change the plan at http://localhost/billing")
    assert error["upgrade_url"] == "http://localhost/billing"
    # Static codes are still allowed: only the dynamic quota is full.
    assert make_codes(shop.owner, 1, kind="static")


def test_a_bulk_file_over_the_limit_is_refused_before_anything_is_stored(shop):
    rows = "name,url\n" + "".join(f"Code {n},https://example.com/{n}\n" for n in range(30))
    refused = shop.owner.post("/api/v1/qr-codes/bulk", data={
        "file": (io.BytesIO(rows.encode()), "codes.csv")}, content_type="multipart/form-data")
    assert refused.status_code == 402
    assert "you have 0 and are adding 30" in refused.json["error"]["message"]
    assert shop.count(Job) == 0


def test_quota_warnings_go_to_owners_and_billing_members_once_a_month(shop):
    make_codes(shop.owner, 20)  # 80 % of Free's 25 dynamic codes
    with shop.app.app_context():
        first = services.send_quota_warnings()
    # Dynamic codes at 80 %, and seats full (3 of 3); one e-mail per quota and recipient.
    assert first["warnings"] == 2
    sent = warnings_sent(shop.app)
    assert {recipient for recipient, _ in sent} == {"olga@example.com", "bill@example.com"}
    assert ("olga@example.com", "You have used 80 % of your Free plan's active dynamic QR "
                                "codes") in sent
    with shop.app.app_context():
        assert services.send_quota_warnings()["warnings"] == 0  # once per period
    make_codes(shop.owner, 5)  # 100 %
    with shop.app.app_context():
        assert services.send_quota_warnings()["warnings"] == 1
        next_month = services.send_quota_warnings(datetime.now(UTC) + timedelta(days=32))
    assert next_month["warnings"] == 2  # a new period: told again
    with shop.app.app_context(), tenant_scope(shop.workspace_id):
        thresholds = sorted(database.session.scalars(select(QuotaNotice.threshold).where(
            QuotaNotice.quota == "qr.dynamic_codes")))
    assert thresholds == [80, 80, 100, 100]  # this month's two, next month's two
    assert ("bill@example.com", "You have used 100 % of your Free plan's active dynamic QR "
                                "codes") in warnings_sent(shop.app)
    assert not any(r == "eddie@example.com" for r, _ in warnings_sent(shop.app))


def test_the_redirect_map_is_exported_on_every_plan_and_is_inert(shop):
    codes = make_codes(shop.owner, 2)
    shop.owner.patch(f"/api/v1/qr-codes/{codes[1]['id']}", json={"name": "=HYPERLINK(\"x\")"})
    shop.owner.delete(f"/api/v1/qr-codes/{codes[0]['id']}")
    for plan in ("free", "enterprise"):
        with shop.app.app_context():
            set_plan(shop.workspace_id, plan)
        exported = shop.editor.get("/api/v1/qr-codes/export")
        assert exported.status_code == 200 and exported.mimetype == "text/csv"
        assert "attachment" in exported.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
        assert [(r["short_url"], r["destination"], r["status"]) for r in rows] == [
            (codes[0]["short_url"], "https://example.com/1", "archived"),
            (codes[1]["short_url"], "https://example.com/2", "live")]
        assert rows[1]["name"] == "'=HYPERLINK(\"x\")"  # a spreadsheet shows it as text


def test_the_operator_sets_a_plan_by_hand(shop):
    result = run_cli(shop.app, "billing", "set-plan", str(shop.workspace_id), "enterprise")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"workspace {shop.workspace_id}: free -> enterprise"
    assert shop.plan() == "enterprise"
    assert shop.events("billing.plan_changed")[-1]["reason"] == "set_by_operator"


def login_page(shop, email):
    """A browser session of ``email``, working in the shop's workspace."""
    client = shop.app.test_client()
    response = client.post("/login", data={"email": email, "password": "correct horse battery",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    client.post("/workspaces/switch", data={"workspace_id": shop.workspace_id,
                                            "csrf_token": csrf_token(client, "/dashboard")})
    return client


def test_the_billing_page_shows_the_plan_the_meters_and_the_plans(shop):
    make_codes(shop.owner, 21)
    client = login_page(shop, "bill@example.com")
    page = client.get("/billing").get_data(as_text=True)
    assert "Free plan" in page
    assert 'data-quota="qr.dynamic_codes"' in page and "21 of 25 · 84 %" in page
    assert "Nearly full" in page
    for plan in ("free", "pro", "business", "enterprise"):
        assert f'data-plan="{plan}"' in page
    assert "Upgrade to Pro" in page and "$15" in page
    assert "Try Pro free for 14 days, no card" in page
    yearly = client.get("/billing?interval=year").get_data(as_text=True)
    assert "$150" in yearly and 'name="interval" value="year"' in yearly
    # The editor may not see billing at all.
    assert login_page(shop, "eddie@example.com").get("/billing").status_code == 403


def test_every_quota_reads_as_words_on_the_page_and_in_the_warnings(shop):
    page = login_page(shop, "bill@example.com").get("/billing").get_data(as_text=True)
    headings = re.findall(r'<p class="meter-title"><strong>([^<]+)</strong>( <span[^>]*>[^<]+)?',
                          page)
    titles = {title + re.sub(r"<[^>]+>", "", rest) for title, rest in headings}
    assert {"Storage in the media library", "Scans this month",
            "Active dynamic QR codes"} <= titles
    assert not [t for t in titles if t.startswith("Of ") or "a month this month" in t]
    assert "<dt>Scans a month</dt>" in page
    with shop.app.test_request_context(), tenant_scope(shop.workspace_id):
        by_key = {meter.key: meter for meter in quotas.meters("free")}
        assert by_key["assets.storage_bytes"].amount(100_000_000) == (
            "100 MB of storage in the media library")
        assert by_key["qr.dynamic_codes"].amount(25) == "25 active dynamic QR codes"
        body = render_template("emails/billing_quota_warning.txt", workspace="Shop",
                               meter=by_key["analytics.scans_per_month"], plan="Free")
    assert "of the 10,000 scans its Free plan allows this month" in body


def test_checkout_from_the_page_sends_the_person_to_stripe(shop, stripe_server,
                                                            plans_in_stripe):
    client = login_page(shop, "olga@example.com")
    token = csrf_token(client, "/billing")
    answer = client.post("/billing/checkout", data={"plan": "business", "interval": "month",
                                                    "csrf_token": token})
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(f"{stripe_server.url}/pay/cs_test_")
    wrong = client.post("/billing/checkout", data={"plan": "gold", "csrf_token": token})
    assert wrong.status_code == 302 and wrong.headers["Location"] == "/billing"
    assert "Choose one of the paid plans" in client.get("/billing").get_data(as_text=True)


def test_banners_explain_a_failed_payment_and_locked_editing_on_every_page(shop):
    with shop.app.app_context():
        set_plan(shop.workspace_id, "pro")
    codes = make_codes(shop.owner, 27)
    with shop.app.app_context():
        set_plan(shop.workspace_id, "free")  # the grace period ended
    with shop.app.app_context(), tenant_scope(shop.workspace_id):
        database.session.add(BillingAccount(
            status="past_due", subscribed_plan="pro", interval="month",
            stripe_customer_id="cus_x", stripe_subscription_id="sub_x",
            past_due_since=datetime.now(UTC) - timedelta(days=8),
            grace_ends_at=datetime.now(UTC) - timedelta(days=1)))
        database.session.commit()
    owner_page = login_page(shop, "olga@example.com").get("/qr/").get_data(as_text=True)
    assert 'data-banner="downgraded"' in owner_page
    assert "Pay the open invoice to get Pro back" in owner_page
    assert 'data-banner="over_quota"' in owner_page and "See the plans" in owner_page
    editor = login_page(shop, "eddie@example.com")
    editor_page = editor.get("/qr/").get_data(as_text=True)
    assert 'data-banner="downgraded"' not in editor_page  # billing news is for billing roles
    assert "27 active dynamic QR codes but the Free plan allows 25" in editor_page
    locked = editor.get(f"/qr/{codes[-1]['id']}").get_data(as_text=True)
    assert "data-locked" in locked and "changing it waits" in locked
    assert editor.get(f"/qr/{codes[-1]['id']}/edit").status_code == 402
    assert editor.get(f"/qr/{codes[0]['id']}/edit").status_code == 200


def test_the_bulk_page_says_how_many_codes_fit_before_any_upload(shop):
    make_codes(shop.owner, 20)
    client = login_page(shop, "olga@example.com")
    page = client.get("/qr/bulk").get_data(as_text=True)
    assert ("The Free plan has room for 5 more dynamic codes (980 codes in all); a file is checked "
            "against that as soon as you choose it, before anything is made") in page
    make_codes(shop.owner, 5)
    full = client.get("/qr/bulk").get_data(as_text=True)
    assert "room for no more dynamic codes (static ones are fine): archive some, or " in full
    assert '<a href="http://localhost/billing">see the plans</a>' in full
