"""The billing pages (plans, usage meters, checkout and portal redirects) and the endpoint
Stripe posts its webhooks to."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask_login import login_required

from qrp_billing import services, stripe_api
from qrplatform.errors import api_error
from qrplatform.gateway import allow_form_target
from qrplatform.web import act, render

bp = Blueprint("billing", __name__, url_prefix="/billing", template_folder="templates",
               static_folder="static", static_url_path="/billing-static")
# Stripe calls this one: no session, no CSRF token, no rate limit (declared in plugin.py).
webhook_bp = Blueprint("billing_webhook", __name__)


@bp.get("")
@login_required
def index():
    overview = services.overview()
    for origin in stripe_api.page_origins():
        allow_form_target(origin)  # Checkout and portal buttons redirect to Stripe
    rows, shown = services.plans_table()
    return render("billing/index.html", "billing/_status.html", overview=overview,
                  plans=rows, quotas_shown=shown, checkout=request.args.get("checkout"),
                  interval=request.args.get("interval", "month"))


@bp.post("/checkout")
@login_required
def checkout():
    plan, interval = request.form.get("plan", ""), request.form.get("interval", "month")
    return act(lambda: services.start_checkout(plan, interval), success=None,
               then=lambda url: url or url_for(".index"))


@bp.post("/subscription")
@login_required
def change_subscription():
    plan, interval = request.form.get("plan", ""), request.form.get("interval", "month")
    return act(lambda: services.change_subscription(plan, interval),
               success=lambda found: f"You are now on {found.subscribed_plan.capitalize()}, "
                                     f"billed each {found.interval}; the difference is "
                                     "prorated on the next invoice.",
               then=url_for(".index"))


@bp.post("/portal")
@login_required
def portal():
    return act(services.portal_url, success=None, then=lambda url: url or url_for(".index"))


@bp.post("/trial")
@login_required
def trial():
    return act(services.start_trial,
               success=lambda found: f"Your trial runs until {found.trial_ends_at:%d %B %Y}.",
               then=url_for(".index"))


@bp.app_template_filter("sentence")
def sentence(text: str) -> str:
    """First letter up, the rest as written ("API requests", not "Api requests")."""
    return text[:1].upper() + text[1:]


@bp.app_context_processor
def banners_context() -> dict:
    """For the base.banners slot (billing/_banners.html): computed only where it renders."""
    return {"billing_banners": services.current_banners}


@webhook_bp.post("/billing/stripe/webhook")
def stripe_webhook():
    try:
        event_id, new = services.receive_webhook(request.get_data(),
                                                 request.headers.get("Stripe-Signature"))
    except services.WebhookRefused as refused:
        return api_error(400, refused.message, code=refused.code)
    return jsonify({"received": event_id, "duplicate": not new})
