"""Everything said to Stripe goes through here, with the official ``stripe`` library.

STRIPE_SECRET_KEY is the API key, STRIPE_API_BASE another address for the API (a local
Stripe-protocol server in tests), STRIPE_WEBHOOK_SECRET the signing secret of the webhook
endpoint. Objects come back as plain dicts.

Prices are made with the Plans API (``/v1/plans``), which lets them carry our own ids
(``qrp_pro_month``); Stripe treats every plan as a price, so Checkout takes the same id.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from flask import current_app

from qrplatform.errors import ServiceError

if TYPE_CHECKING:
    import stripe

# The stripe library (and requests, httpx, rich... behind it) is imported by the first call
# that talks to Stripe: a quarter of the app's import time, for the few requests that pay.

# Seconds a Stripe call may take; retried by the library on network errors and 5xx/409.
TIMEOUT = 20
RETRIES = 2


class StripeUnavailable(ServiceError):
    status = 503
    code = "payment_provider_unavailable"


class PaymentsNotConfigured(ServiceError):
    """This server takes no payments (no STRIPE_SECRET_KEY): a state, not a failure."""

    status = 409
    code = "payments_not_configured"


@functools.lru_cache(maxsize=8)
def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    import stripe

    http = stripe.RequestsClient(timeout=TIMEOUT)
    return stripe.StripeClient(api_key, base_addresses={"api": api_base} if api_base else None,
                               max_network_retries=RETRIES, http_client=http)


def configured() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def client() -> stripe.StripeClient:
    key = current_app.config.get("STRIPE_SECRET_KEY")
    if not key:
        raise PaymentsNotConfigured("Payments are not set up on this server (STRIPE_SECRET_KEY "
                                    "is unset); ask the operator.")
    return _client(key, current_app.config.get("STRIPE_API_BASE") or None)


def page_origins() -> list[str]:
    """Where Stripe's own pages live (Checkout, the portal): the billing page's forms lead
    there. With STRIPE_API_BASE (a local Stripe-protocol server) its pages are served there."""
    base = current_app.config.get("STRIPE_API_BASE")
    return [base] if base else ["https://checkout.stripe.com", "https://billing.stripe.com"]


def _call(operation, *args, **kwargs) -> dict[str, Any]:
    import stripe

    try:
        return operation(*args, **kwargs).to_dict()
    except stripe.InvalidRequestError:
        raise
    except stripe.StripeError as exc:
        raise StripeUnavailable(f"Stripe did not answer as expected ({exc.user_message or exc}); "
                                "nothing was changed, try again in a minute.") from exc


def create_customer(email: str, name: str, workspace_id: int) -> dict:
    return _call(client().v1.customers.create, params={
        "email": email, "name": name, "metadata": {"workspace_id": str(workspace_id)}})


def checkout_session(*, customer: str, price: str, workspace_id: int, success_url: str,
                     cancel_url: str) -> dict:
    return _call(client().v1.checkout.sessions.create, params={
        "mode": "subscription", "customer": customer,
        "client_reference_id": str(workspace_id),
        "line_items": [{"price": price, "quantity": 1}],
        "subscription_data": {"metadata": {"workspace_id": str(workspace_id)}},
        "success_url": success_url, "cancel_url": cancel_url,
    })


def portal_session(*, customer: str, return_url: str) -> dict:
    return _call(client().v1.billing_portal.sessions.create,
                 params={"customer": customer, "return_url": return_url})


def subscription(subscription_id: str) -> dict:
    return _call(client().v1.subscriptions.retrieve, subscription_id)


def change_price(subscription_id: str, item_id: str, price: str) -> dict:
    """Move the subscription's item to another price. Stripe prorates by default
    (``create_prorations``): the unused time of the old price is credited on the next
    invoice, the new price charged from now."""
    return _call(client().v1.subscriptions.update, subscription_id, params={
        "items": [{"id": item_id, "plan": price}]})


def cancel_at_period_end(subscription_id: str, cancel: bool) -> dict:
    return _call(client().v1.subscriptions.update, subscription_id,
                 params={"cancel_at_period_end": cancel})


def product(product_id: str) -> dict | None:
    return _retrieve_or_none(client().v1.products.retrieve, product_id)


def create_product(product_id: str, name: str) -> dict:
    return _call(client().v1.products.create, params={"id": product_id, "name": name})


def price(price_id: str) -> dict | None:
    return _retrieve_or_none(client().v1.plans.retrieve, price_id)


def create_price(price_id: str, *, product_id: str, amount: int, currency: str,
                 interval: str) -> dict:
    return _call(client().v1.plans.create, params={
        "id": price_id, "product": product_id, "amount": amount, "currency": currency,
        "interval": interval})


def _retrieve_or_none(operation, object_id: str) -> dict | None:
    import stripe

    try:
        return _call(operation, object_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise


def construct_event(payload: bytes, signature: str | None) -> dict:
    """The verified event, or ``stripe.SignatureVerificationError`` / ``ValueError``."""
    import stripe

    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise stripe.SignatureVerificationError(
            "STRIPE_WEBHOOK_SECRET is unset, so no webhook can be verified", signature)
    return stripe.Webhook.construct_event(payload, signature or "", secret).to_dict()


# -- reading Stripe's objects ----------------------------------------------------------------

def subscription_item(sub: dict) -> dict:
    return sub["items"]["data"][0]


def subscription_price_id(sub: dict) -> str:
    """The price of a subscription's only item (``price`` in today's API, ``plan`` too)."""
    item = subscription_item(sub)
    return (item.get("price") or item.get("plan") or {})["id"]


def subscription_period_end(sub: dict) -> int | None:
    """Newer API versions keep the period on the item, older ones on the subscription."""
    return subscription_item(sub).get("current_period_end") or sub.get("current_period_end")
