"""billing jobs (RQ, ids only): process a stored Stripe event; the hourly lapse and quota
checks."""

from qrp_billing import services


def process_stripe_event(event_id: str) -> str:
    return services.process_event(event_id)


def end_lapsed() -> dict:
    """Trials that ended and grace periods that ran out go back to Free."""
    return services.end_lapsed()


def send_quota_warnings() -> dict:
    """80 % and 100 % warnings, once per quota, threshold and month."""
    return services.send_quota_warnings()
