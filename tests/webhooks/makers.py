"""Makers of the webhooks API's resources, in the shape of tests/test_cross_tenant.MAKERS:
``maker(owner)`` returns the id of a resource that the owner's workspace holds."""

from qrplatform import encryption
from qrplatform.extensions import db
from qrplatform.tenancy import tenant_scope
from qrplatform.webhooks.models import WebhookEndpoint


def make_webhook(owner) -> str:
    """An endpoint of the owner's (written directly: the plan's endpoint quota is not spent,
    and its public address is never called, since it wants no event that happens here)."""
    with tenant_scope(owner.workspace_id):
        endpoint = WebhookEndpoint(url="https://93.184.215.14/owner's-hook",
                                   description="owner's hook", event_types=["webhook.deleted"],
                                   secret_encrypted=encryption.encrypt("whsec_c2VjcmV0"))
        db.session.add(endpoint)
        db.session.commit()
        return str(endpoint.id)


WEBHOOKS_MAKERS = {"/api/v1/webhooks/{webhook_id}": make_webhook}


def make_logged_delivery(workspace_id: int, endpoint_id: int) -> int:
    """A delivery that failed once with an HTML answer, in the endpoint's log (written
    directly: nothing is sent)."""
    from datetime import UTC, datetime, timedelta

    from qrplatform.webhooks.models import WebhookAttempt, WebhookDelivery

    with tenant_scope(workspace_id):
        now = datetime.now(UTC)
        delivery = WebhookDelivery(
            endpoint_id=endpoint_id, message_id="msg_" + "0" * 32, event_id=None,
            event_type="qr.created", payload='{"type":"qr.created","data":{"code_id":1}}',
            state="pending", attempts=1, max_attempts=8, first_attempt_at=now,
            next_attempt_at=now + timedelta(minutes=5), last_status=502,
            last_error="HTTP 502", last_latency_ms=41)
        db.session.add(delivery)
        db.session.flush()
        db.session.add(WebhookAttempt(delivery_id=delivery.id, number=1, trigger="event",
                                      attempted_at=now, status_code=502, latency_ms=41,
                                      response_snippet="<html><h1>Bad gateway</h1></html>",
                                      address="93.184.215.14"))
        db.session.commit()
        return delivery.id
