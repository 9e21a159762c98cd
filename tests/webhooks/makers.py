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
