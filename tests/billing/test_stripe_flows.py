"""Billing against a Stripe-protocol server: the real ``stripe`` library talks to localstripe
(customers, plans, subscriptions, invoices, proration) and to the test front for Checkout and
Portal sessions; webhooks are signed with the test secret by ``stripe.WebhookSignature``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from qrp_billing import services
from qrp_billing.models import BillingAccount, StripeEvent
from qrplatform.extensions import db as database
from qrplatform.notify import Notification
from qrplatform.tenancy import unscoped
from qrplatform.testing.stripe import DECLINED_LATER_CARD
from tests.billing.conftest import make_codes, run_cli


def subscribe(shop, stripe_server, stripe_events, plan="pro", interval="month") -> dict:
    """Checkout as a person does it: the API gives Stripe's URL, the person pays there, Stripe
    posts checkout.session.completed. Returns the subscription (as Stripe has it)."""
    started = shop.owner.post("/api/v1/billing/checkout", json={"plan": plan,
                                                                "interval": interval})
    assert started.status_code == 201, started.json
    session_id = started.json["url"].rsplit("/", 1)[1]
    completed = stripe_server.complete_checkout(session_id)
    answer = stripe_events.post(shop.app.test_client(),
                                stripe_events.build("checkout.session.completed", completed))
    assert answer.status_code == 200, answer.json
    return stripe_server.call("GET", f"/v1/subscriptions/{completed['subscription']}")


def test_sync_plans_creates_the_catalogue_in_stripe_then_finds_it_as_it_should_be(
        billing_app, stripe_server, plans_in_stripe):
    assert "created  qrp_pro_month" in plans_in_stripe
    assert stripe_server.call("GET", "/v1/plans/qrp_business_year")["amount"] == 49000
    check = run_cli(billing_app, "billing", "sync-plans", "--check")
    assert check.exit_code == 0, check.output
    assert "differs" not in check.output and check.output.count("ok ") == 9


def test_sync_plans_check_names_a_price_that_differs_and_fails(billing_app, stripe_server):
    stripe_server.call("POST", "/v1/products", id="qrp_pro", name="QR Platform Pro")
    stripe_server.call("POST", "/v1/plans", id="qrp_pro_month", product="qrp_pro",
                       amount=999, currency="usd", interval="month")
    check = run_cli(billing_app, "billing", "sync-plans", "--check")
    assert check.exit_code == 1
    assert "differs  qrp_pro_month" in check.output and "amount is 999" in check.output


def test_upgrade_through_checkout(shop, stripe_server, stripe_events, plans_in_stripe):
    started = shop.owner.post("/api/v1/billing/checkout", json={"plan": "pro",
                                                                "interval": "year"})
    assert started.status_code == 201, started.json
    assert started.json["url"].startswith(f"{stripe_server.url}/pay/cs_test_")
    [session] = stripe_server.checkout_sessions.values()
    assert session["price"] == "qrp_pro_year" and session["mode"] == "subscription"
    assert session["client_reference_id"] == str(shop.workspace_id)
    assert session["customer"].startswith("cus_")
    assert session["success_url"].endswith("/billing?checkout=done&session_id="
                                           "{CHECKOUT_SESSION_ID}")
    assert shop.plan() == "free"  # nothing changes before Stripe says it is paid

    completed = stripe_server.complete_checkout(session["id"])
    answer = stripe_events.post(shop.app.test_client(),
                                stripe_events.build("checkout.session.completed", completed))
    assert answer.status_code == 200 and answer.json["duplicate"] is False

    assert shop.plan() == "pro"
    billing = shop.owner.get("/api/v1/billing").json
    assert (billing["plan"], billing["status"], billing["interval"]) == ("pro", "active", "year")
    assert billing["usage"]["qr.dynamic_codes"] == {**billing["usage"]["qr.dynamic_codes"],
                                                    "used": 0, "limit": 1000}
    assert shop.events("billing.plan_changed") == [{
        "plan": "pro", "previous_plan": "free", "reason": "checkout_session_completed"}]
    # A second checkout while paying is refused: the subscription is changed instead.
    again = shop.owner.post("/api/v1/billing/checkout", json={"plan": "business"})
    assert again.status_code == 409 and "change that subscription" in again.json["error"][
        "message"]


def test_a_plan_change_is_prorated_by_stripe(shop, stripe_server, stripe_events,
                                             plans_in_stripe):
    subscription = subscribe(shop, stripe_server, stripe_events)
    changed = shop.owner.post("/api/v1/billing/subscription",
                              json={"plan": "business", "interval": "month"})
    assert changed.status_code == 200, changed.json
    assert changed.json["plan"] == "business" and shop.plan() == "business"
    now_in_stripe = stripe_server.call("GET", f"/v1/subscriptions/{subscription['id']}")
    assert now_in_stripe["items"]["data"][0]["plan"]["id"] == "qrp_business_month"
    # The unused part of the Pro month is credited: a proration item on the next invoice.
    items = stripe_server.call("GET", "/v1/invoiceitems",
                               customer=subscription["customer"])["data"]
    assert [(item["amount"], item["proration"]) for item in items] == [(-1500, True)]
    assert shop.events("billing.plan_changed")[-1] == {
        "plan": "business", "previous_plan": "pro", "reason": "changed_by_member"}


def test_a_wrong_signature_is_refused_and_changes_nothing(shop, stripe_server, stripe_events,
                                                          plans_in_stripe):
    started = shop.owner.post("/api/v1/billing/checkout", json={"plan": "pro"})
    completed = stripe_server.complete_checkout(started.json["url"].rsplit("/", 1)[1])
    event = stripe_events.build("checkout.session.completed", completed)
    client = shop.app.test_client()

    forged = stripe_events.post(client, event, secret="whsec_someone_else")
    assert forged.status_code == 400
    assert forged.json["error"]["code"] == "bad_signature"
    assert "does not match" in forged.json["error"]["message"]
    unsigned = client.post("/billing/stripe/webhook", json=event)
    assert unsigned.status_code == 400 and unsigned.json["error"]["request_id"]
    # A signed payload changed on the way: the signature no longer matches it.
    header = stripe_events.sign('{"id": "evt_1"}')
    tampered = client.post("/billing/stripe/webhook", data='{"id": "evt_2"}',
                           headers={"Stripe-Signature": header},
                           content_type="application/json")
    assert tampered.status_code == 400

    assert shop.count(StripeEvent) == 0
    assert shop.plan() == "free"


def test_a_replayed_event_is_processed_once(shop, stripe_server, stripe_events,
                                            plans_in_stripe):
    started = shop.owner.post("/api/v1/billing/checkout", json={"plan": "pro"})
    completed = stripe_server.complete_checkout(started.json["url"].rsplit("/", 1)[1])
    event = stripe_events.build("checkout.session.completed", completed)
    client = shop.app.test_client()
    first, second = (stripe_events.post(client, event) for _ in range(2))
    assert (first.json["duplicate"], second.json["duplicate"]) == (False, True)
    assert shop.count(StripeEvent) == 1
    assert len(shop.events("billing.plan_changed")) == 1

    # The operator replays it from the CLI: it re-reads Stripe, so nothing changes twice.
    replayed = run_cli(shop.app, "billing", "replay", event["id"])
    assert replayed.exit_code == 0, replayed.output
    assert f"{event['id']}  active: pro (month)" in replayed.output
    assert len(shop.events("billing.plan_changed")) == 1 and shop.plan() == "pro"
    unknown = run_cli(shop.app, "billing", "replay", "evt_nope")
    assert unknown.exit_code != 0 and "No stored Stripe event evt_nope" in unknown.output


def test_events_out_of_order_end_where_stripe_is(shop, stripe_server, stripe_events,
                                                 plans_in_stripe):
    subscription = subscribe(shop, stripe_server, stripe_events)
    stale = dict(subscription)  # what an "updated" event carried while it was still active
    cancelled = stripe_server.call("DELETE", f"/v1/subscriptions/{subscription['id']}")
    client = shop.app.test_client()
    created_at = int(datetime.now(UTC).timestamp())

    deleted = stripe_events.post(client, stripe_events.build(
        "customer.subscription.deleted", cancelled, created=created_at))
    assert deleted.status_code == 200
    assert shop.plan() == "free"
    # The older event arrives last and says "active": Stripe is asked again, and it is not.
    updated = stripe_events.post(client, stripe_events.build(
        "customer.subscription.updated", stale, created=created_at - 60))
    assert updated.status_code == 200
    assert shop.plan() == "free"
    with shop.app.app_context():
        outcome = database.session.scalars(select(StripeEvent.outcome).where(
            StripeEvent.type == "customer.subscription.updated")).one()
    assert outcome == "canceled: moved to free"


def test_payment_failure_keeps_the_plan_for_the_grace_period_then_drops_to_free_and_every_code_keeps_redirecting(  # noqa: E501
        shop, stripe_server, stripe_events, plans_in_stripe, client):
    subscription = subscribe(shop, stripe_server, stripe_events)
    codes = make_codes(shop.owner, 30)  # more than Free's 25
    # The card starts failing; the next charge (here: the move to yearly billing) is declined.
    stripe_server.give_card(subscription["customer"], DECLINED_LATER_CARD)
    item = subscription["items"]["data"][0]["id"]
    past_due = stripe_server.call("POST", f"/v1/subscriptions/{subscription['id']}",
                                  items=[{"id": item, "plan": "qrp_pro_year"}])
    assert past_due["status"] == "past_due"
    [invoice] = [i for i in stripe_server.call("GET", "/v1/invoices", customer=past_due[
        "customer"])["data"] if i["status"] == "open"]
    answer = stripe_events.post(shop.app.test_client(),
                                stripe_events.build("invoice.payment_failed", invoice))
    assert answer.status_code == 200

    billing = shop.owner.get("/api/v1/billing").json
    assert (billing["plan"], billing["status"]) == ("pro", "past_due")
    grace_ends = datetime.fromisoformat(billing["grace_ends_at"])
    assert timedelta(days=6, hours=23) < grace_ends - datetime.now(UTC) <= timedelta(days=7)
    assert [b["kind"] for b in billing["banners"]] == ["past_due"]
    with shop.app.app_context(), unscoped():
        told = database.session.scalars(select(Notification.recipient).where(
            Notification.template == "billing_payment_failed")).all()
    assert sorted(told) == ["bill@example.com", "olga@example.com"]  # not the editor

    with shop.app.app_context():
        assert services.end_lapsed(datetime.now(UTC) + timedelta(days=6)) == {
            "trials_ended": 0, "downgraded": 0, "recovered": 0, "failed": 0}
        assert services.end_lapsed(datetime.now(UTC) + timedelta(days=8))["downgraded"] == 1
    assert shop.plan() == "free"
    assert shop.events("billing.downgraded")[0]["previous_plan"] == "pro"
    billing = shop.owner.get("/api/v1/billing").json
    assert [b["kind"] for b in billing["banners"]] == ["downgraded", "over_quota"]

    # Codes are never held hostage: every one still redirects...
    for code in codes:
        short_path = code["short_url"].removeprefix("http://localhost")
        assert client.get(short_path).status_code in (301, 302, 307), code["short_url"]
    # ...the oldest 25 stay editable, the newer ones wait, with what to do.
    assert shop.owner.patch(f"/api/v1/qr-codes/{codes[0]['id']}",
                            json={"destination": "https://example.com/new"}).status_code == 200
    locked = shop.owner.patch(f"/api/v1/qr-codes/{codes[-1]['id']}",
                              json={"destination": "https://example.com/new"})
    assert locked.status_code == 402
    assert "this workspace has 30: this code keeps working" in locked.json["error"]["message"]
    assert locked.json["error"]["upgrade_url"] == "http://localhost/billing"
    # ...and the redirect map is there on the Free plan.
    exported = shop.owner.get("/api/v1/qr-codes/export")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert len(exported.get_data(as_text=True).strip().splitlines()) == 31


def test_a_deleted_customer_returns_the_workspace_to_free(shop, stripe_server, stripe_events,
                                                          plans_in_stripe):
    subscription = subscribe(shop, stripe_server, stripe_events)
    customer = stripe_server.call("DELETE", f"/v1/customers/{subscription['customer']}")
    stripe_events.post(shop.app.test_client(),
                       stripe_events.build("customer.deleted", {**customer, "object": "customer"}))
    assert shop.plan() == "free"
    billing = shop.owner.get("/api/v1/billing").json
    assert billing["status"] == "none" and billing["subscribed_plan"] is None


def test_an_event_about_another_customer_changes_no_workspace(shop, stripe_server,
                                                              stripe_events, plans_in_stripe):
    stranger = stripe_server.call("POST", "/v1/customers", email="stranger@example.com")
    stripe_server.give_card(stranger["id"])
    theirs = stripe_server.call("POST", "/v1/subscriptions", customer=stranger["id"],
                                items=[{"plan": "qrp_business_month"}],
                                metadata={"workspace_id": str(shop.workspace_id)})
    answer = stripe_events.post(shop.app.test_client(),
                                stripe_events.build("customer.subscription.created", theirs))
    assert answer.status_code == 200
    assert shop.plan() == "free"
    with shop.app.app_context():
        found = database.session.scalars(select(StripeEvent)).one()
    assert found.outcome == f"no workspace for customer {stranger['id']}"


def test_the_portal_opens_for_a_customer_only(shop, stripe_server, stripe_events,
                                              plans_in_stripe):
    none_yet = shop.owner.post("/api/v1/billing/portal")
    assert none_yet.status_code == 409 and "choose a paid plan first" in none_yet.json[
        "error"]["message"]
    subscription = subscribe(shop, stripe_server, stripe_events)
    opened = shop.billing.post("/api/v1/billing/portal")
    assert opened.status_code == 201
    [session] = stripe_server.portal_sessions.values()
    assert opened.json["url"] == session["url"]
    assert session["customer"] == subscription["customer"]
    assert session["return_url"] == "http://localhost/billing"


def test_the_card_free_trial_runs_once_then_ends(shop):
    started = shop.owner.post("/api/v1/billing/trial")
    assert started.status_code == 200, started.json
    assert (started.json["plan"], started.json["status"]) == ("pro", "trialing")
    ends = datetime.fromisoformat(started.json["trial_ends_at"])
    assert timedelta(days=13, hours=23) < ends - datetime.now(UTC) <= timedelta(days=14)
    assert shop.owner.post("/api/v1/billing/trial").status_code == 409
    with shop.app.app_context():
        assert services.end_lapsed(datetime.now(UTC) + timedelta(days=15))["trials_ended"] == 1
    assert shop.plan() == "free"
    again = shop.owner.get("/api/v1/billing").json
    assert again["trial_available"] is False
    assert shop.owner.post("/api/v1/billing/trial").status_code == 409


def test_only_billing_managers_see_and_change_billing(shop):
    for call in (lambda c: c.get("/api/v1/billing"),
                 lambda c: c.post("/api/v1/billing/checkout", json={"plan": "pro"}),
                 lambda c: c.post("/api/v1/billing/portal"),
                 lambda c: c.post("/api/v1/billing/trial")):
        refused = call(shop.editor)
        assert refused.status_code == 403
        assert "lacks the permission 'billing.manage'" in refused.json["error"]["message"]
    assert shop.billing.get("/api/v1/billing").status_code == 200
    assert shop.owner.get("/api/v1/billing").status_code == 200


def test_checkout_input_is_checked_before_stripe_is_called(shop, stripe_server):
    wrong = shop.owner.post("/api/v1/billing/checkout", json={"plan": "gold",
                                                              "interval": "week"})
    assert wrong.status_code == 422
    assert set(wrong.json["error"]["fields"]) == {"plan", "interval"}
    assert stripe_server.checkout_sessions == {}
    with shop.app.app_context(), unscoped():
        assert database.session.scalars(select(BillingAccount)).first() is None


def test_paying_the_open_invoice_ends_the_grace_period(shop, stripe_server, stripe_events,
                                                       plans_in_stripe):
    subscription = subscribe(shop, stripe_server, stripe_events)
    stripe_server.give_card(subscription["customer"], DECLINED_LATER_CARD)
    item = subscription["items"]["data"][0]["id"]
    stripe_server.call("POST", f"/v1/subscriptions/{subscription['id']}",
                       items=[{"id": item, "plan": "qrp_pro_year"}])
    [invoice] = [i for i in stripe_server.call("GET", "/v1/invoices", customer=subscription[
        "customer"])["data"] if i["status"] == "open"]
    client = shop.app.test_client()
    stripe_events.post(client, stripe_events.build("invoice.payment_failed", invoice))
    assert shop.owner.get("/api/v1/billing").json["status"] == "past_due"

    # The member updates the card in the portal; Stripe retries the invoice and it is paid.
    stripe_server.give_card(subscription["customer"])
    paid = stripe_server.call("POST", f"/v1/invoices/{invoice['id']}/pay")
    assert paid["status"] == "paid"
    stripe_events.post(client, stripe_events.build("invoice.paid", paid))
    billing = shop.owner.get("/api/v1/billing").json
    assert (billing["plan"], billing["status"], billing["interval"]) == ("pro", "active", "year")
    assert billing["grace_ends_at"] is None and billing["banners"] == []
    with shop.app.app_context():  # the hourly check finds nothing left to end
        assert services.end_lapsed(datetime.now(UTC) + timedelta(days=8))["downgraded"] == 0
    assert shop.plan() == "pro"


def test_plan_changes_reach_the_audit_log(shop, stripe_server, stripe_events, plans_in_stripe):
    from qrplatform.events import outbox

    subscribe(shop, stripe_server, stripe_events)
    with shop.app.app_context():
        outbox.drain()  # the relay, as in production, hands events to their receivers
    entries = [entry for entry in shop.owner.get("/api/v1/teams/audit").json["items"]
               if entry["event_type"].startswith("billing.")]
    assert {entry["event_type"] for entry in entries} == {"billing.checkout_started",
                                                          "billing.plan_changed"}
    [changed] = [e for e in entries if e["event_type"] == "billing.plan_changed"]
    assert changed["data"] == {"plan": "pro", "previous_plan": "free",
                               "reason": "checkout_session_completed"}
    assert changed["actor_label"] == "system"  # Stripe's webhook, not a member
