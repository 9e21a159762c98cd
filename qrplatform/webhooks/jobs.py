"""Sending webhooks: the jobs (by RQ workers, or the embedded thread).

``send_pending(endpoint_id)`` sends what is due for one endpoint, oldest first: each delivery
is leased (so two jobs never send it at once; a job that dies leaves it to the next after the
lease), signed with the Standard Webhooks headers, posted through ``qrplatform.netguard``
(public addresses only, checked again now, no redirects), and its outcome written down by the
services. When the endpoint fails three times in a row (once, when it was failing already:
that attempt was a probe) the rest of its due deliveries wait for the next retry, so a dead
endpoint costs one timeout per retry rather than one per event.
Before it ends the job books one delayed job for the endpoint's next retry.

``close_window`` turns a window of stream events into deliveries; ``sweep`` (every five
minutes) restarts what a lost job left behind; ``purge`` (daily) forgets old deliveries.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from flask import has_app_context
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select, update
from standardwebhooks.webhooks import Webhook

from qrplatform import jobs, netguard
from qrplatform.extensions import db
from qrplatform.tenancy import unscoped
from qrplatform.webhooks import services
from qrplatform.webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# One job sends for at most this long, then hands over to a new one.
RUN_SECONDS = 60
# A lease outlasts the request's timeout by this much.
LEASE_MARGIN = 30
# Failures in a row after which an endpoint's other due deliveries wait for the next retry.
FAILURES_BEFORE_PAUSE = 3
# Deliveries due for longer than this (their job was lost) are restarted by the sweep.
OVERDUE = timedelta(minutes=2)
SNIPPET_BYTES = 4096


def _now() -> datetime:
    return datetime.now(UTC)


def send_pending(endpoint_id: int) -> dict:
    """Send the endpoint's due deliveries (the job the services queue by name)."""
    moment = _now()
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                       .values(send_queued=False))
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                                     WebhookEndpoint.wake_at <= moment)
                       .values(wake_at=None))
    db.session.commit()
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        return {"sent": 0, "failed": 0}
    timeout = float(services.setting("QRP_WEBHOOK_TIMEOUT", services.DEFAULT_TIMEOUT))
    deadline = time.monotonic() + RUN_SECONDS
    pause_after = 1 if endpoint.failing_since is not None else FAILURES_BEFORE_PAUSE
    sent = failed = streak = 0
    while True:
        if time.monotonic() >= deadline:
            services.kick(endpoint.id)  # more may be due: a fresh job goes on
            db.session.commit()
            break
        delivery = _claim_next(endpoint, timeout)
        if delivery is None:
            break
        attempted_at = _now()
        outcome = _send(endpoint, delivery, timeout)
        services.record_attempt(delivery, endpoint, outcome, attempted_at=attempted_at,
                                trigger=_trigger(delivery))
        db.session.commit()
        jobs.progress(sent + failed + 1, None, f"{outcome.summary} for {delivery.event_type}")
        if outcome.succeeded:
            sent, streak = sent + 1, 0
            continue
        failed, streak = failed + 1, streak + 1
        if not endpoint.enabled:
            break  # turned off just now, after failing for a day
        if streak >= pause_after and delivery.next_attempt_at is not None:
            services.defer_due(endpoint.id, delivery.next_attempt_at)
            db.session.commit()
            break
    _book_next_run(endpoint.id)
    return {"sent": sent, "failed": failed}


def _due(endpoint: WebhookEndpoint, moment: datetime):
    """Deliveries that may be sent at ``moment``: pending, not leased by a live sender, and
    either the endpoint is on or a person asked for them."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.state == "pending",
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < moment))
    if not endpoint.enabled:
        query = query.where(WebhookDelivery.manual.is_(True))
    return query


def _claim_next(endpoint: WebhookEndpoint, timeout: float) -> WebhookDelivery | None:
    moment = _now()
    db.session.refresh(endpoint)
    # Fresh deliveries first: a failing endpoint is probed with one that has not failed yet,
    # so a single delivery it keeps refusing does not hold the others back.
    delivery = db.session.scalar(
        _due(endpoint, moment).where(WebhookDelivery.next_attempt_at <= moment)
        .order_by(WebhookDelivery.attempts, WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1).with_for_update(skip_locked=True))
    if delivery is None:
        db.session.rollback()
        return None
    delivery.lease_until = moment + timedelta(seconds=timeout + LEASE_MARGIN)
    delivery.attempts += 1
    db.session.commit()
    return delivery


def _trigger(delivery: WebhookDelivery) -> str:
    if delivery.event_type == services.TEST_EVENT and delivery.attempts == 1:
        return "test"
    if delivery.manual:
        return "redeliver"
    return "event" if delivery.attempts == 1 else "retry"


def signature(endpoint: WebhookEndpoint, delivery: WebhookDelivery, timestamp: int) -> str:
    """``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` for each secret in use, separated
    by spaces (two during a rotation), made by the standardwebhooks library itself."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(secret).sign(delivery.message_id, moment, delivery.payload)
                    for secret in services.signing_secrets(endpoint))


def _send(endpoint: WebhookEndpoint, delivery: WebhookDelivery,
          timeout: float) -> services.Outcome:
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": delivery.message_id,
               "webhook-timestamp": str(timestamp),
               "webhook-signature": signature(endpoint, delivery, timestamp)}
    started = time.monotonic()
    try:
        answer = netguard.request("POST", endpoint.url, body=delivery.payload.encode(),
                                  headers=headers, timeout=timeout,
                                  max_response_bytes=SNIPPET_BYTES)
    except netguard.BlockedDestination as exc:
        return services.Outcome(error=f"refused: {exc.message}")
    except netguard.RequestFailed as exc:
        return services.Outcome(error=str(exc),
                                latency_ms=round((time.monotonic() - started) * 1000))
    return services.Outcome(status=answer.status, latency_ms=answer.elapsed_ms,
                            snippet=services.inert_text(answer.body), address=answer.address)


def _book_next_run(endpoint_id: int) -> None:
    """One delayed job for the endpoint's next retry, unless one is booked in time."""
    moment = _now()
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        .with_for_update().execution_options(populate_existing=True))
    if endpoint is None:
        db.session.rollback()
        return
    earliest = db.session.scalar(_due(endpoint, moment).with_only_columns(
        func.min(WebhookDelivery.next_attempt_at)))
    if earliest is None or (endpoint.wake_at is not None
                            and moment < endpoint.wake_at <= earliest):
        db.session.commit()
        return
    if earliest <= moment:
        services.kick(endpoint.id)
    else:
        endpoint.wake_at = earliest
        jobs.enqueue(services.SEND_JOB, endpoint.id, workspace_id=endpoint.workspace_id,
                     delay=(earliest - moment).total_seconds(),
                     description="webhooks: the next retry")
    db.session.commit()


def close_window(endpoint_id: int) -> dict:
    """Turn the endpoint's waiting stream events into deliveries (a window closed)."""
    return {"deliveries": services.seal_window(endpoint_id)}


def sweep() -> dict:
    """Every five minutes: restart endpoints whose send job or window job was lost (a
    restarted process of the embedded setup, a Redis flushed by hand)."""
    return {"restarted": services.restart_overdue(OVERDUE)}


def purge() -> dict:
    """Daily: forget deliveries older than QRP_WEBHOOK_LOG_DAYS."""
    return {"deleted": services.purge_log()}


class DeliveryBacklogCollector(Collector):
    """At scrape time: deliveries waiting, and how late the most overdue one is."""

    def collect(self):
        if not has_app_context():
            return
        moment = _now()
        try:
            with unscoped():
                waiting, oldest = db.session.execute(
                    select(func.count(), func.min(WebhookDelivery.next_attempt_at))
                    .where(WebhookDelivery.state == "pending")).one()
        except Exception:
            log.warning("webhook backlog metrics unavailable", exc_info=True)
            return
        finally:
            db.session.rollback()
        yield GaugeMetricFamily("qrp_webhook_deliveries_pending",
                                "Webhook deliveries waiting for their next attempt",
                                value=waiting)
        late = max(0.0, (moment - oldest).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily("qrp_webhook_oldest_due_seconds",
                                "How long the most overdue webhook delivery has been due",
                                value=late)
