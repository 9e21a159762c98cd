"""What the billing plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from datetime import datetime
from pathlib import Path

import click
from flask.cli import AppGroup

from qrp_billing import api, jobs, models, services, views
from qrplatform import signals
from qrplatform.errors import ServiceError
from qrplatform.extensions import csrf
from qrplatform.plans import PLANS
from qrplatform.plugins import NavItem, Permission, Plugin, ProductEvent, RateLimit, Schedule
from qrplatform.web import public_url

billing_cli = AppGroup("billing", help="Plans and Stripe: sync prices, replay webhooks.")


@billing_cli.command("sync-plans")
@click.option("--check", is_flag=True, help="Only compare Stripe with the catalogue.")
def sync_plans_command(check):
    """Create (or check) each paid plan's product and monthly and yearly prices in Stripe."""
    lines = services.sync_plans(check_only=check)
    for line in lines:
        click.echo(f"{line.state:8} {line.object_id:28} {line.detail}")
    if any(line.state == "differs" for line in lines):
        raise SystemExit(1)


@billing_cli.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--failed", is_flag=True, help="Every stored event not processed yet.")
@click.option("--since", default=None, help="Every event received since this ISO time.")
def replay_command(event_ids, failed, since):
    """Process stored Stripe events again (safe: each re-reads the subscription)."""
    if not (event_ids or failed or since):
        raise click.UsageError("Name event ids, or give --failed or --since.")
    try:
        results = services.replay(list(event_ids), failed=failed,
                                  since=datetime.fromisoformat(since) if since else None)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    for event_id, outcome in results:
        click.echo(f"{event_id}  {outcome}")
    click.echo(f"{len(results)} event(s) replayed")


@billing_cli.command("set-plan")
@click.argument("workspace_id", type=int)
@click.argument("plan", type=click.Choice(PLANS))
def set_plan_command(workspace_id, plan):
    """Put a workspace on a plan by hand (an enterprise contract, a refund)."""
    previous = services.set_plan_by_operator(workspace_id, plan)
    click.echo(f"workspace {workspace_id}: {previous} -> {plan}")


@billing_cli.command("lapse")
def lapse_command():
    """End trials and grace periods that ran out now (scheduled hourly)."""
    click.echo(services.end_lapsed())


def upgrade_url(_quota_key, plan, **_extra):
    """Answers signals.quota_exceeded: where a plan is chosen."""
    return public_url("billing.index")


def setup(app) -> None:
    csrf.exempt(views.stripe_webhook)  # Stripe signs its posts; there is no session


plugin = Plugin(
    name="billing",
    title="Billing",
    description="Stripe plans, checkout and portal, verified idempotent webhooks, dunning "
                "with a grace period, and the usage page of every plan quota.",
    blueprints=[views.bp, views.webhook_bp],
    api_blueprints=[api.blp],
    models=[models.BillingAccount, models.StripeEvent, models.QuotaNotice],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    nav=[NavItem("Plan and usage", "billing.index", order=90, permission=services.MANAGE,
                 menu="account")],
    events={
        "billing.plan_changed": "the workspace's plan changed (data: plan, previous_plan, "
                                "reason: checkout_session_completed, customer_subscription_*, "
                                "changed_by_member, trial_started, trial_ended, "
                                "grace_period_ended, customer_deleted, set_by_operator...)",
        "billing.checkout_started": "a member opened Stripe Checkout (data: plan, interval, "
                                    "session_id)",
        "billing.trial_started": "a card-free trial began (data: plan, days, ends_at)",
        "billing.payment_failed": "a payment failed; the plan is kept until the grace period "
                                  "ends (data: plan, grace_ends_at)",
        "billing.downgraded": "the grace period ended unpaid; the workspace is on Free "
                              "(data: plan, previous_plan, past_due_since)",
        "billing.quota_warning": "a quota reached 80 % or 100 % this month (data: quota, "
                                 "threshold, used, limit)",
    },
    jobs=[jobs.process_stripe_event, jobs.end_lapsed, jobs.send_quota_warnings],
    schedules=[Schedule(jobs.end_lapsed, every_seconds=3600),
               Schedule(jobs.send_quota_warnings, every_seconds=3600)],
    commands=[billing_cli],
    permissions=[Permission(services.MANAGE, "See and change the plan, payment details and "
                            "invoices", ("owner", "billing"))],
    rate_limits={"billing_webhook.stripe_webhook": RateLimit.exempt()},
    settings={
        # Prices made in the Stripe dashboard: "pro:month=price_123,pro:year=price_456".
        "BILLING_PRICE_IDS": "",
        "BILLING_CURRENCY": "usd",
        # Days a past-due workspace keeps its plan before it moves to Free.
        "BILLING_GRACE_DAYS": 7,
        # The card-free trial: its length (0: no trial) and plan.
        "BILLING_TRIAL_DAYS": 14,
        "BILLING_TRIAL_PLAN": "pro",
    },
    product_events={
        "billing.plan_changed": ProductEvent("Plan Changed", properties=lambda event: {
            "plan": event.data["plan"], "previous_plan": event.data["previous_plan"],
            "reason": event.data.get("reason")}),
        "billing.checkout_started": ProductEvent("Checkout Started", properties=lambda event: {
            "plan": event.data["plan"], "interval": event.data["interval"]}),
        "billing.payment_failed": ProductEvent("Payment Failed"),
    },
    signal_receivers={signals.quota_exceeded: upgrade_url},
    slots={"base.banners": "billing/_banners.html"},
    setup=setup,
)
