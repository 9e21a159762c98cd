"""The plans on sale and their prices, written once. The limits of each plan are not here:
they are the quotas the plugins declare (qrplatform.quotas), read by the plans table.

Each paid plan has a monthly and a yearly price. In Stripe a price is found by its id: by
default ``qrp_<plan>_<interval>`` (``flask billing sync-plans`` creates them so), or the id an
operator made in the Stripe dashboard, given in BILLING_PRICE_IDS as
``pro:month=price_123,pro:year=price_456``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from qrplatform.errors import ServiceError
from qrplatform.plans import PLANS

INTERVALS = ("month", "year")


@dataclass(frozen=True)
class Offer:
    plan: str
    title: str
    pitch: str
    # Smallest currency unit (cents) by interval; a year costs ten months.
    amounts: dict[str, int]


OFFERS = {
    "pro": Offer("pro", "Pro", "For one team's campaigns: many dynamic codes, longer history.",
                 {"month": 1500, "year": 15000}),
    "business": Offer("business", "Business", "Unlimited dynamic codes, large teams, "
                      "three years of scan history.", {"month": 4900, "year": 49000}),
    "enterprise": Offer("enterprise", "Enterprise", "Everything unlimited and the highest API "
                        "rate, for the whole company.", {"month": 19900, "year": 199000}),
}
PAID_PLANS = tuple(OFFERS)
assert set(PAID_PLANS) | {"free"} == set(PLANS), "every plan but free is on sale"


def currency() -> str:
    return current_app.config["BILLING_CURRENCY"].lower()


def default_price_id(plan: str, interval: str) -> str:
    return f"qrp_{plan}_{interval}"


def configured_price_ids() -> dict[tuple[str, str], str]:
    """BILLING_PRICE_IDS parsed: (plan, interval) -> Stripe price id."""
    found = {}
    for entry in filter(None, (e.strip() for e in
                               current_app.config["BILLING_PRICE_IDS"].split(","))):
        key, _, price_id = entry.partition("=")
        plan, _, interval = key.strip().partition(":")
        if plan not in OFFERS or interval not in INTERVALS or not price_id.strip():
            raise ValueError(f"BILLING_PRICE_IDS entry {entry!r} is not plan:interval=price_id "
                             f"with a plan of {', '.join(PAID_PLANS)} and an interval of "
                             f"{' or '.join(INTERVALS)}")
        found[(plan, interval)] = price_id.strip()
    return found


def price_id(plan: str, interval: str) -> str:
    check_choice(plan, interval)
    return configured_price_ids().get((plan, interval)) or default_price_id(plan, interval)


def plan_for_price(stripe_price_id: str) -> tuple[str, str] | None:
    """(plan, interval) of a Stripe price id, or None when it is not one of ours."""
    for plan in PAID_PLANS:
        for interval in INTERVALS:
            if price_id(plan, interval) == stripe_price_id:
                return plan, interval
    return None


def check_choice(plan: str, interval: str) -> None:
    if plan not in OFFERS:
        raise ServiceError(f"Choose one of the paid plans: {', '.join(PAID_PLANS)}.",
                           field="plan", status=422, code="validation_error")
    if interval not in INTERVALS:
        raise ServiceError("Choose monthly ('month') or yearly ('year') billing.",
                           field="interval", status=422, code="validation_error")


def format_money(amount: int) -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency())
    value = f"{amount / 100:,.2f}".removesuffix(".00")
    return f"{symbol}{value}" if symbol else f"{value} {currency().upper()}"
