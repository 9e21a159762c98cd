"""The billing plugin's rules, shared by the pages, the API, the webhook job and the CLI.

Billing decides which plan a workspace is on, never what a plan allows: the limits are the
quotas the plugins declare (qrplatform.quotas). Stripe is the truth about a subscription:
every webhook only tells us to look again, so events that arrive twice or out of order change
nothing wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, g
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from qrp_billing import catalogue, stripe_api
from qrp_billing.models import BillingAccount, QuotaNotice, StripeEvent
from qrplatform import events, jobs, notify, permissions, quotas
from qrplatform.auth import services as accounts
from qrplatform.auth.models import Membership, User, Workspace
from qrplatform.errors import Conflict, NotFound, ServiceError
from qrplatform.extensions import db
from qrplatform.plans import DEFAULT_PLAN, PLANS
from qrplatform.registry import registry
from qrplatform.tenancy import current_workspace_id, tenant_scope, unscoped
from qrplatform.web import public_url

log = logging.getLogger(__name__)

MANAGE = "billing.manage"
# Subscriptions that still pay (or may pay again) for a plan.
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid")
ENDED_STATUSES = ("canceled", "incomplete_expired")
# Stripe events we act on; others are stored and marked ignored.
HANDLED_EVENTS = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "customer.deleted",
)
WARNING_THRESHOLDS = (80, 100)
# Who acts when Stripe's webhook changes a plan (also when a test runs the job inline, inside
# the webhook's anonymous request).
STRIPE_ACTOR = {"type": "system"}


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


# -- reading ------------------------------------------------------------------------------------

def account(*, lock: bool = False) -> BillingAccount | None:
    """The billing account of the workspace in scope (None before it first touched billing)."""
    query = select(BillingAccount)
    if lock:
        query = query.with_for_update()
    return db.session.scalars(query).first()


def _account_or_new() -> BillingAccount:
    found = account(lock=True)
    if found is None:
        found = BillingAccount(status="none")
        db.session.add(found)
        db.session.flush()
    return found


def _workspace() -> Workspace:
    return db.session.get(Workspace, current_workspace_id())


@dataclass(frozen=True)
class Banner:
    """A message every page of the workspace shows, and what to do about it."""

    kind: str  # past_due | downgraded | trial | over_quota
    level: str  # warning | info
    message: str


@dataclass(frozen=True)
class Overview:
    plan: str
    status: str
    interval: str | None
    subscribed_plan: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    trial_ends_at: datetime | None
    grace_ends_at: datetime | None
    has_customer: bool
    # A live Stripe subscription: plan changes go through it (prorated), not through checkout.
    subscribed: bool
    trial_available: bool
    meters: list[quotas.Meter]
    banners: list[Banner]


def overview() -> Overview:
    """Plan, subscription and every quota measured, for the billing page and API."""
    permissions.require(MANAGE)
    workspace = _workspace()
    found = account()
    meters = quotas.meters(workspace.plan)
    return Overview(
        plan=workspace.plan,
        status=found.status if found else "none",
        interval=found.interval if found else None,
        subscribed_plan=found.subscribed_plan if found else None,
        current_period_end=found.current_period_end if found else None,
        cancel_at_period_end=bool(found and found.cancel_at_period_end),
        trial_ends_at=found.trial_ends_at if found and found.status == "trialing" else None,
        grace_ends_at=found.grace_ends_at if found and found.status == "past_due" else None,
        has_customer=bool(found and found.stripe_customer_id),
        subscribed=_subscribed(found),
        trial_available=_trial_available(workspace, found),
        meters=meters,
        banners=banners(workspace, found, meters),
    )


def banners(workspace: Workspace, found: BillingAccount | None,
            meters: list[quotas.Meter] | None = None) -> list[Banner]:
    """What the workspace's members must know about billing, most urgent first."""
    shown = []
    if found is not None and found.status == "past_due":
        if workspace.plan == DEFAULT_PLAN:
            shown.append(Banner("downgraded", "warning", (
                f"A payment failed and the grace period ended, so this workspace moved to the "
                f"Free plan. Pay the open invoice to get {_title(found.subscribed_plan)} back; "
                "every code keeps redirecting meanwhile.")))
        else:
            shown.append(Banner("past_due", "warning", (
                f"A payment failed. {_title(workspace.plan)} stays until "
                f"{found.grace_ends_at:%d %B %Y}; update the card before then to keep it.")))
    elif found is not None and found.status == "trialing" and found.trial_ends_at:
        shown.append(Banner("trial", "info", (
            f"{_title(workspace.plan)} trial until {found.trial_ends_at:%d %B %Y}. Choose a "
            "plan before then to keep its limits.")))
    for meter in meters if meters is not None else []:
        if not meter.soft and meter.state == "over":
            shown.append(Banner("over_quota", "warning", (
                f"{meter.amount(meter.used)} but the {_title(workspace.plan)} "
                f"plan allows {meter.display(meter.limit)}. Everything keeps working; adding "
                "more or editing beyond the limit waits until you remove some or upgrade.")))
    return shown


def current_banners() -> list[Banner]:
    """The banners for the page being rendered (none for members who cannot act on them
    but the over-quota ones, which explain locked editing to everyone)."""
    workspace = g.get("workspace")
    if workspace is None:
        return []
    found = account()
    shown = banners(workspace, found, quotas.meters(workspace.plan, enforced_only=True))
    if permissions.can(MANAGE):
        return shown
    return [banner for banner in shown if banner.kind == "over_quota"]


def _subscribed(found: BillingAccount | None) -> bool:
    return bool(found and found.stripe_subscription_id and found.status in LIVE_STATUSES)


def _title(plan: str | None) -> str:
    return (plan or "").capitalize()


@dataclass(frozen=True)
class PlanRow:
    plan: str
    title: str
    pitch: str
    prices: dict[str, str]  # interval -> "$15"
    limits: dict[str, str]  # quota key -> "1,000" / "unlimited"


def plans_table() -> tuple[list[PlanRow], list[tuple[str, str]]]:
    """Every plan with its prices and the limits its quotas declare; and the quotas shown
    (key, heading: "scans a month" for a monthly one) in declaration order."""
    declared = registry().quotas
    shown = [(key, quota.noun + (" a month" if quota.period == "month" else ""))
             for key, quota in declared.items()]
    rows = []
    for plan in PLANS:
        offer = catalogue.OFFERS.get(plan)
        rows.append(PlanRow(
            plan=plan, title=_title(plan),
            pitch=offer.pitch if offer else "To start: everything, in smaller amounts.",
            prices={interval: catalogue.format_money(amount)
                    for interval, amount in (offer.amounts.items() if offer else
                                             ((i, 0) for i in catalogue.INTERVALS))},
            limits={key: quotas.format_amount(quotas.limit(key, plan), quota.unit)
                    for key, quota in declared.items()},
        ))
    return rows, shown


# -- people changing the plan -------------------------------------------------------------------

def _ensure_customer(found: BillingAccount) -> str:
    if not found.stripe_customer_id:
        workspace = _workspace()
        customer = stripe_api.create_customer(g.user.email, workspace.name, workspace.id)
        found.stripe_customer_id = customer["id"]
        # Kept even if what follows fails, so the workspace never gets two customers.
        db.session.commit()
    return found.stripe_customer_id


def start_checkout(plan: str, interval: str) -> str:
    """A Stripe Checkout page for subscribing to ``plan``: its URL. The plan changes when
    Stripe tells us the checkout completed (webhook), not when the person comes back."""
    permissions.require(MANAGE)
    catalogue.check_choice(plan, interval)
    found = _account_or_new()
    if _subscribed(found):
        raise Conflict(f"This workspace already pays for {_title(found.subscribed_plan)}; "
                       "change that subscription instead (the difference is prorated).",
                       field="plan")
    customer = _ensure_customer(found)
    session = stripe_api.checkout_session(
        customer=customer, price=catalogue.price_id(plan, interval),
        workspace_id=found.workspace_id,
        # Stripe fills in {CHECKOUT_SESSION_ID}; url_for would escape the braces.
        success_url=(public_url("billing.index", checkout="done")
                     + "&session_id={CHECKOUT_SESSION_ID}"),
        cancel_url=public_url("billing.index", checkout="cancelled"))
    events.publish("billing.checkout_started", {"plan": plan, "interval": interval,
                                                "session_id": session["id"]})
    db.session.commit()
    return session["url"]


def change_subscription(plan: str, interval: str) -> BillingAccount:
    """Move a paying workspace to another plan or interval now; Stripe prorates the
    difference on the next invoice."""
    permissions.require(MANAGE)
    catalogue.check_choice(plan, interval)
    found = account(lock=True)
    if not _subscribed(found):
        raise Conflict("This workspace has no subscription to change yet; subscribe through "
                       "checkout first.", field="plan")
    current = stripe_api.subscription(found.stripe_subscription_id)
    new_price = catalogue.price_id(plan, interval)
    if stripe_api.subscription_price_id(current) != new_price:
        item_id = stripe_api.subscription_item(current)["id"]
        current = stripe_api.change_price(current["id"], item_id, new_price)
    _sync(found, current, reason="changed_by_member")
    db.session.commit()
    return found


def portal_url() -> str:
    """Stripe's Customer Portal for this workspace: card, invoices, cancellation."""
    permissions.require(MANAGE)
    found = account()
    if found is None or not found.stripe_customer_id:
        raise Conflict("There are no payment details yet: choose a paid plan first.")
    session = stripe_api.portal_session(customer=found.stripe_customer_id,
                                        return_url=public_url("billing.index"))
    return session["url"]


def _trial_available(workspace: Workspace, found: BillingAccount | None) -> bool:
    days = current_app.config["BILLING_TRIAL_DAYS"]
    return (days > 0 and workspace.plan == DEFAULT_PLAN and not _subscribed(found)
            and not (found and found.trial_used))


def start_trial() -> BillingAccount:
    """BILLING_TRIAL_DAYS of BILLING_TRIAL_PLAN, without a card, once per workspace."""
    permissions.require(MANAGE)
    found = _account_or_new()
    if not _trial_available(_workspace(), found):
        raise Conflict("A trial is only for workspaces on the Free plan that never had one.")
    days = current_app.config["BILLING_TRIAL_DAYS"]
    found.status, found.trial_used = "trialing", True
    found.trial_ends_at = _now() + timedelta(days=days)
    _apply_plan(found, current_app.config["BILLING_TRIAL_PLAN"], "trial_started")
    events.publish("billing.trial_started", {"plan": current_app.config["BILLING_TRIAL_PLAN"],
                                             "days": days,
                                             "ends_at": found.trial_ends_at.isoformat()})
    db.session.commit()
    return found


def set_plan_by_operator(workspace_id: int, plan: str) -> str:
    """An operator's decision (an enterprise contract): the plan, with no subscription."""
    with tenant_scope(workspace_id):
        found = _account_or_new()
        previous = _apply_plan(found, plan, "set_by_operator")
        db.session.commit()
    return previous


def _apply_plan(found: BillingAccount, plan: str, reason: str,
                actor: dict | None = None) -> str:
    """Put the workspace on ``plan`` (through the core) and say so once."""
    previous = accounts.change_plan(found.workspace_id, plan)
    if previous != plan:
        events.publish("billing.plan_changed", {"plan": plan, "previous_plan": previous,
                                                "reason": reason},
                       workspace_id=found.workspace_id, actor=actor)
    return previous


# -- webhooks -------------------------------------------------------------------------------------

class WebhookRefused(ServiceError):
    status = 400
    code = "bad_signature"


def receive_webhook(payload: bytes, signature: str | None) -> tuple[str, bool]:
    """Verify Stripe's signature, store the event, queue its processing. Returns the event id
    and whether it was new. A bad signature changes nothing."""
    import stripe  # imported by the first call to Stripe (stripe_api)

    try:
        event = stripe_api.construct_event(payload, signature)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRefused(f"The Stripe-Signature header does not match this payload: "
                             f"{exc.user_message or exc}") from exc
    except ValueError as exc:
        raise WebhookRefused(f"The payload is not a Stripe event: {exc}") from exc
    with unscoped():
        new = _store_event(event)
        if new:
            jobs.enqueue("billing.process_stripe_event", event["id"], retries=5,
                         description=f"Stripe {event['type']}")
        db.session.commit()
    return event["id"], new


def _store_event(event: dict) -> bool:
    dialect = db.engine.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stored = db.session.scalar(
        insert(StripeEvent).values(id=event["id"], type=event["type"], payload=event)
        .on_conflict_do_nothing(index_elements=["id"]).returning(StripeEvent.id))
    return stored is not None


def process_event(event_id: str, *, force: bool = False) -> str:
    """Act on one stored event, once (``force`` acts again: safe, since every action re-reads
    Stripe). Returns what happened."""
    with unscoped():
        stored = db.session.get(StripeEvent, event_id, with_for_update=True)
        if stored is None:
            raise NotFound(f"No stored Stripe event {event_id}.")
        if stored.processed_at is not None and not force:
            return stored.outcome or "already processed"
        stored.attempts += 1
        try:
            outcome, workspace_id = _handle(stored.type, stored.payload["data"]["object"])
        except Exception as exc:
            db.session.rollback()
            _record_failure(event_id, exc)
            raise
        stored.processed_at, stored.outcome = _now(), outcome[:300]
        stored.workspace_id, stored.error = workspace_id, None
        db.session.commit()
    return outcome


def _record_failure(event_id: str, exc: Exception) -> None:
    stored = db.session.get(StripeEvent, event_id)
    stored.attempts += 1
    stored.error = f"{type(exc).__name__}: {exc}"[:2000]
    db.session.commit()


def _handle(event_type: str, obj: dict[str, Any]) -> tuple[str, int | None]:
    if event_type not in HANDLED_EVENTS:
        return f"ignored {event_type}", None
    if event_type == "customer.deleted":
        return _customer_deleted(obj["id"])
    if event_type == "checkout.session.completed":
        customer, subscription_id = obj.get("customer"), obj.get("subscription")
        found = _account_of(customer, obj.get("client_reference_id"))
    elif event_type.startswith("invoice."):
        customer, subscription_id = obj.get("customer"), _invoice_subscription(obj)
        found = _account_of(customer)
    else:
        customer, subscription_id = obj.get("customer"), obj["id"]
        found = _account_of(customer, (obj.get("metadata") or {}).get("workspace_id"))
    if found is None:
        return f"no workspace for customer {customer}", None
    if not subscription_id:
        return "nothing to do: no subscription", found.workspace_id
    with tenant_scope(found.workspace_id):
        found = account(lock=True)
        if event_type == "checkout.session.completed" and not found.stripe_customer_id:
            found.stripe_customer_id = customer
        outcome = _sync(found, stripe_api.subscription(subscription_id),
                        reason=event_type.replace(".", "_"), actor=STRIPE_ACTOR)
        return outcome, found.workspace_id


def _invoice_subscription(invoice: dict) -> str | None:
    """An invoice's subscription (at the top in older API versions, under parent today)."""
    details = ((invoice.get("parent") or {}).get("subscription_details") or {})
    return invoice.get("subscription") or details.get("subscription")


def _account_of(customer: str | None, workspace_id: str | None = None) -> BillingAccount | None:
    """The account of a Stripe customer; a checkout names its workspace too, for a customer
    created before our row was committed."""
    if customer:
        found = db.session.scalars(select(BillingAccount).where(
            BillingAccount.stripe_customer_id == customer)).first()
        if found is not None:
            return found
    if workspace_id and str(workspace_id).isdigit():
        found = db.session.scalars(select(BillingAccount).where(
            BillingAccount.workspace_id == int(workspace_id))).first()
        if found is not None and found.stripe_customer_id in (None, customer):
            return found
    return None


def _customer_deleted(customer: str) -> tuple[str, int | None]:
    found = _account_of(customer)
    if found is None:
        return f"no workspace for customer {customer}", None
    with tenant_scope(found.workspace_id):
        found = account(lock=True)
        found.stripe_customer_id = found.stripe_subscription_id = None
        found.status, found.subscribed_plan, found.interval = "none", None, None
        found.past_due_since = found.grace_ends_at = found.current_period_end = None
        _apply_plan(found, DEFAULT_PLAN, "customer_deleted", STRIPE_ACTOR)
        return "customer deleted: moved to free", found.workspace_id


def _sync(found: BillingAccount, sub: dict, *, reason: str, actor: dict | None = None) -> str:
    """Make the account (and the workspace's plan) what Stripe says the subscription is."""
    if (found.stripe_subscription_id and sub["id"] != found.stripe_subscription_id
            and (sub["status"] not in LIVE_STATUSES or found.status in LIVE_STATUSES)):
        return f"ignored: {sub['id']} is not this workspace's current subscription"
    chosen = catalogue.plan_for_price(stripe_api.subscription_price_id(sub))
    if chosen is None:
        return f"ignored: price {stripe_api.subscription_price_id(sub)} is not one of our plans"
    plan, interval = chosen
    found.stripe_subscription_id = sub["id"]
    found.subscribed_plan, found.interval = plan, interval
    found.current_period_end = _timestamp(stripe_api.subscription_period_end(sub))
    found.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    status = sub["status"]
    if status in ("active", "trialing"):
        found.status, found.trial_ends_at = status, None
        found.past_due_since = found.grace_ends_at = None
        _apply_plan(found, plan, reason, actor)
        return f"{status}: {plan} ({interval})"
    if status in ("past_due", "unpaid"):
        return _enter_grace(found, reason, actor)
    if status in ENDED_STATUSES:
        found.status = "canceled"
        found.past_due_since = found.grace_ends_at = None
        _apply_plan(found, DEFAULT_PLAN, reason, actor)
        return f"{status}: moved to free"
    found.status = "incomplete"
    return f"{status}: waiting for the first payment"


def _enter_grace(found: BillingAccount, reason: str, actor: dict | None = None) -> str:
    """A payment failed: the plan stays for BILLING_GRACE_DAYS, members are told once."""
    if found.status == "past_due" and found.past_due_since is not None:
        return (f"past due since {found.past_due_since:%Y-%m-%d}; "
                f"grace until {found.grace_ends_at:%Y-%m-%d}")
    found.status = "past_due"
    found.past_due_since = _now()
    found.grace_ends_at = found.past_due_since + timedelta(
        days=current_app.config["BILLING_GRACE_DAYS"])
    events.publish("billing.payment_failed", {"plan": found.subscribed_plan,
                                              "grace_ends_at": found.grace_ends_at.isoformat()},
                   workspace_id=found.workspace_id, actor=actor)
    _email_billing_contacts(found.workspace_id, "billing_payment_failed",
                            "A payment failed: update your card to keep your plan",
                            plan=_title(found.subscribed_plan), grace_ends_at=found.grace_ends_at)
    return f"past due: grace until {found.grace_ends_at:%Y-%m-%d} ({reason})"


# -- lapses: trials and grace periods that ended -------------------------------------------------

def end_lapsed(now: datetime | None = None) -> dict[str, int]:
    """Trials past their end go back to Free; so do workspaces whose grace period ended and
    whose subscription Stripe still says is unpaid (re-read, in case a webhook was missed)."""
    now = now or _now()
    with unscoped():
        due = db.session.execute(select(BillingAccount.workspace_id, BillingAccount.status).where(
            ((BillingAccount.status == "trialing") & (BillingAccount.trial_ends_at <= now))
            | ((BillingAccount.status == "past_due") & (BillingAccount.grace_ends_at <= now))
        )).all()
    counts = {"trials_ended": 0, "downgraded": 0, "recovered": 0, "failed": 0}
    for workspace_id, _status in due:
        with tenant_scope(workspace_id):
            try:
                counts[_end_lapse(account(lock=True), now)] += 1
                db.session.commit()
            except Exception:  # Stripe down for one: the others go on, this one next hour
                db.session.rollback()
                log.exception("ending the lapse of workspace %s failed", workspace_id)
                counts["failed"] += 1
    return counts


def _end_lapse(found: BillingAccount, now: datetime) -> str:
    if found.status == "trialing":
        found.status, found.trial_ends_at = "none", None
        _apply_plan(found, DEFAULT_PLAN, "trial_ended")
        _email_billing_contacts(found.workspace_id, "billing_trial_ended",
                                "Your trial ended: this workspace is on the Free plan")
        return "trials_ended"
    if found.stripe_subscription_id and stripe_api.configured():
        sub = stripe_api.subscription(found.stripe_subscription_id)
        if sub["status"] in ("active", "trialing"):
            _sync(found, sub, reason="paid_late")
            return "recovered"
    previous = _apply_plan(found, DEFAULT_PLAN, "grace_period_ended")
    events.publish("billing.downgraded", {"plan": DEFAULT_PLAN, "previous_plan": previous,
                                          "past_due_since": found.past_due_since.isoformat()},
                   workspace_id=found.workspace_id)
    _email_billing_contacts(found.workspace_id, "billing_downgraded",
                            "Your workspace moved to the Free plan", plan=_title(previous),
                            export_url=public_url("qr.export_redirect_map")
                            if "qr.export_redirect_map" in current_app.view_functions else None)
    return "downgraded"


# -- quota warnings ------------------------------------------------------------------------------

def send_quota_warnings(now: datetime | None = None) -> dict[str, int]:
    """E-mail owners and billing members when a quota reaches 80 % or 100 %, once per
    threshold per month (a stock quota such as codes is reminded again next month)."""
    now = now or _now()
    period = f"{quotas.period_start(now):%Y-%m}"
    with unscoped():
        workspace_ids = db.session.scalars(select(Workspace.id).order_by(Workspace.id)).all()
    sent = failed = 0
    for workspace_id in workspace_ids:
        with tenant_scope(workspace_id):
            try:
                sent += _warn_workspace(workspace_id, period)
                db.session.commit()
            except Exception:  # one workspace's broken counter must not silence the others
                db.session.rollback()
                log.exception("quota warnings of workspace %s failed", workspace_id)
                failed += 1
    return {"workspaces": len(workspace_ids), "warnings": sent, "failed": failed}


def _warn_workspace(workspace_id: int, period: str) -> int:
    plan = db.session.get(Workspace, workspace_id).plan
    already = {(n.quota, n.threshold) for n in db.session.scalars(
        select(QuotaNotice).where(QuotaNotice.period == period))}
    sent = 0
    for meter in quotas.meters(plan):
        reached = [t for t in WARNING_THRESHOLDS
                   if meter.percent is not None and meter.percent >= t]
        if not reached or (meter.key, reached[-1]) in already:
            continue
        for threshold in reached:
            if (meter.key, threshold) not in already:
                db.session.add(QuotaNotice(quota=meter.key, threshold=threshold, period=period,
                                           used=meter.used, allowed=meter.limit))
        events.publish("billing.quota_warning", {"quota": meter.key, "threshold": reached[-1],
                                                 "used": meter.used, "limit": meter.limit},
                       workspace_id=workspace_id)
        _email_billing_contacts(
            workspace_id, "billing_quota_warning",
            f"You have used {min(meter.percent, 100)} % of your {_title(plan)} plan's "
            f"{meter.noun}", meter=meter, plan=_title(plan), threshold=reached[-1])
        sent += 1
    return sent


# -- e-mail -------------------------------------------------------------------------------------

def billing_contacts(workspace_id: int) -> list[User]:
    """Members whose role may manage billing (owners and billing members by default)."""
    roles = registry().permissions[MANAGE].roles
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, Membership.role.in_(roles))
        .order_by(User.id)))


def _email_billing_contacts(workspace_id: int, template: str, subject: str, **context) -> None:
    workspace = db.session.get(Workspace, workspace_id)
    for user in billing_contacts(workspace_id):
        notify.send_email(user.email, template, subject=subject, workspace_id=workspace_id,
                          name=user.name, workspace=workspace.name,
                          billing_url=public_url("billing.index"), **context)


# -- operators ----------------------------------------------------------------------------------

def replay(event_ids: list[str] | None = None, *, failed: bool = False,
           since: datetime | None = None) -> list[tuple[str, str]]:
    """Process stored events again (by id, the failed ones, or all since a time), oldest
    first; each re-reads Stripe, so replaying is always safe."""
    with unscoped():
        query = select(StripeEvent.id).order_by(StripeEvent.received_at, StripeEvent.id)
        if event_ids:
            query = query.where(StripeEvent.id.in_(event_ids))
        if failed:
            query = query.where(StripeEvent.processed_at.is_(None))
        if since is not None:
            query = query.where(StripeEvent.received_at >= since)
        ids = db.session.scalars(query).all()
        db.session.rollback()
    missing = sorted(set(event_ids or ()) - set(ids))
    if missing:
        raise NotFound(f"No stored Stripe event {', '.join(missing)}.")
    results = []
    for event_id in ids:
        try:
            results.append((event_id, process_event(event_id, force=True)))
        except Exception as exc:  # one broken event must not stop the replay of the others
            results.append((event_id, f"failed: {exc}"))
    return results


@dataclass(frozen=True)
class SyncLine:
    object_id: str
    state: str  # created | ok | differs
    detail: str


def sync_plans(*, check_only: bool = False) -> list[SyncLine]:
    """Create (or with ``check_only`` just check) each paid plan's product and its monthly
    and yearly prices in Stripe, as the catalogue says."""
    lines = []
    for plan, offer in catalogue.OFFERS.items():
        product_id = f"qrp_{plan}"
        found = stripe_api.product(product_id)
        if found is None and not check_only:
            stripe_api.create_product(product_id, f"QR Platform {offer.title}")
            lines.append(SyncLine(product_id, "created", f"product {offer.title}"))
        elif found is None:
            lines.append(SyncLine(product_id, "differs", "missing"))
        else:
            lines.append(SyncLine(product_id, "ok", f"product {found.get('name')}"))
        for interval, amount in offer.amounts.items():
            lines.append(_sync_price(plan, interval, amount, product_id, check_only))
    return lines


def _sync_price(plan: str, interval: str, amount: int, product_id: str,
                check_only: bool) -> SyncLine:
    price_id = catalogue.price_id(plan, interval)
    want = {"amount": amount, "currency": catalogue.currency(), "interval": interval}
    found = stripe_api.price(price_id)
    if found is None:
        if check_only:
            return SyncLine(price_id, "differs", "missing")
        stripe_api.create_price(price_id, product_id=product_id, **want)
        return SyncLine(price_id, "created", f"{catalogue.format_money(amount)} a {interval}")
    have = {"amount": found.get("amount") or found.get("unit_amount"),
            "currency": found.get("currency"),
            "interval": found.get("interval") or (found.get("recurring") or {}).get("interval")}
    wrong = [f"{key} is {have[key]!r}, the catalogue says {value!r}"
             for key, value in want.items() if have[key] != value]
    # A price's amount cannot change in Stripe: make a new one and name it in BILLING_PRICE_IDS.
    return SyncLine(price_id, "differs" if wrong else "ok",
                    "; ".join(wrong) or f"{catalogue.format_money(amount)} a {interval}")
