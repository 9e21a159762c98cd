"""/api/v1/billing: the plan and usage, checkout, plan changes, the portal and the trial."""

from qrp_billing import services
from qrp_billing.schemas import BillingSchema, PlanChoiceSchema, PlanSchema, UrlSchema
from qrplatform.api import api_blueprint
from qrplatform.permissions import permission_required

blp = api_blueprint("billing_api", __name__, "/api/v1/billing",
                    "The plan, each quota's usage, Stripe checkout and portal")


def billing_view(found: services.Overview) -> dict:
    return {
        "plan": found.plan, "status": found.status, "interval": found.interval,
        "subscribed_plan": found.subscribed_plan,
        "current_period_end": found.current_period_end,
        "cancel_at_period_end": found.cancel_at_period_end,
        "trial_ends_at": found.trial_ends_at, "grace_ends_at": found.grace_ends_at,
        "trial_available": found.trial_available,
        "usage": {m.key: {"used": m.used, "limit": m.limit, "noun": m.noun, "unit": m.unit,
                          "period": m.period, "soft": m.soft, "percent": m.percent,
                          "state": m.state} for m in found.meters},
        "banners": [vars(b) for b in found.banners],
    }


@blp.get("")
@blp.response(200, BillingSchema)
def get_billing():
    """The workspace's plan, its subscription, and each quota's use against its limit."""
    return billing_view(services.overview())


@blp.get("/plans")
@blp.response(200, PlanSchema(many=True))
def list_plans():
    """Every plan with its monthly and yearly price and the limits of each quota."""
    rows, _shown = services.plans_table()
    return [vars(row) for row in rows]


@blp.post("/checkout")
@permission_required(services.MANAGE)
@blp.arguments(PlanChoiceSchema)
@blp.response(201, UrlSchema)
def checkout(choice):
    """Start subscribing: send the person to the returned Stripe Checkout URL. The plan
    changes when Stripe confirms the payment. A workspace that already pays changes its
    subscription with POST /api/v1/billing/subscription instead (409 here)."""
    return {"url": services.start_checkout(choice["plan"], choice["interval"])}


@blp.post("/subscription")
@permission_required(services.MANAGE)
@blp.arguments(PlanChoiceSchema)
@blp.response(200, BillingSchema)
def change_subscription(choice):
    """Move a paying workspace to another plan or interval now; Stripe prorates the
    difference on the next invoice."""
    services.change_subscription(choice["plan"], choice["interval"])
    return billing_view(services.overview())


@blp.post("/portal")
@permission_required(services.MANAGE)
@blp.response(201, UrlSchema)
def portal():
    """A Stripe Customer Portal URL: card, invoices, cancellation."""
    return {"url": services.portal_url()}


@blp.post("/trial")
@permission_required(services.MANAGE)
@blp.response(200, BillingSchema)
def trial():
    """Start the card-free trial (BILLING_TRIAL_DAYS of BILLING_TRIAL_PLAN), once."""
    services.start_trial()
    return billing_view(services.overview())
