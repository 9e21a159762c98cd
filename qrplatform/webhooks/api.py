"""/api/v1/webhooks: endpoints, the event types they can ask for, their delivery log, test
events, redeliveries and secret rotation (flask-smorest, in the OpenAPI document)."""

from __future__ import annotations

from qrplatform.api import api_blueprint
from qrplatform.permissions import permission_required
from qrplatform.webhooks import services
from qrplatform.webhooks.schemas import (
    DeliveryDetailSchema,
    DeliveryListArgs,
    DeliveryPageSchema,
    DeliverySchema,
    EndpointCreatedSchema,
    EndpointCreateSchema,
    EndpointSchema,
    EndpointUpdateSchema,
    EventTypeSchema,
    SecretSchema,
)

blp = api_blueprint(
    "webhooks_api", __name__, "/api/v1/webhooks",
    "Webhooks: signed HTTP calls to your endpoints when events happen (Standard Webhooks: "
    "verify webhook-id, webhook-timestamp and webhook-signature with the endpoint's secret)")


@blp.get("")
@blp.response(200, EndpointSchema(many=True))
def list_endpoints():
    """The workspace's endpoints (never their secrets)."""
    return services.list_endpoints()


@blp.post("")
@permission_required("webhooks.manage")
@blp.arguments(EndpointCreateSchema)
@blp.response(201, EndpointCreatedSchema)
def create_endpoint(data):
    """Register an endpoint. The URL must resolve to public addresses (https in production);
    the answer carries the signing ``secret``, shown this once."""
    endpoint, secret = services.create_endpoint(data["url"], data["events"],
                                                data["description"], data["enabled"])
    attributes = [field.attribute or name for name, field in EndpointSchema().fields.items()]
    return {**{name: getattr(endpoint, name) for name in attributes}, "secret": secret}


@blp.get("/event-types")
@blp.response(200, EventTypeSchema(many=True))
def event_types():
    """Every event type an endpoint can ask for, with what it means and its data."""
    return services.event_catalogue()


@blp.get("/<int:webhook_id>")
@blp.response(200, EndpointSchema)
def get_endpoint(webhook_id):
    """One endpoint."""
    return services.get_endpoint(webhook_id)


@blp.patch("/<int:webhook_id>")
@permission_required("webhooks.manage")
@blp.arguments(EndpointUpdateSchema)
@blp.response(200, EndpointSchema)
def update_endpoint(data, webhook_id):
    """Change the URL, the event types or the description; ``enabled`` pauses the endpoint or
    turns it back on."""
    return services.update_endpoint(webhook_id, url=data.get("url"),
                                    event_types=data.get("events"),
                                    description=data.get("description"),
                                    enabled=data.get("enabled"))


@blp.delete("/<int:webhook_id>")
@permission_required("webhooks.manage")
@blp.response(204)
def delete_endpoint(webhook_id):
    """Remove an endpoint and its delivery log; nothing more is sent to it."""
    services.delete_endpoint(webhook_id)


@blp.post("/<int:webhook_id>/secret")
@permission_required("webhooks.manage")
@blp.response(201, SecretSchema)
def rotate_secret(webhook_id):
    """A new signing secret (shown once). The old one keeps signing next to it for a day
    (``previous_secret_expires_at``), so the receiver can switch without missing events."""
    endpoint, secret = services.rotate_secret(webhook_id)
    return {"secret": secret,
            "previous_secret_expires_at": endpoint.previous_secret_expires_at}


@blp.post("/<int:webhook_id>/test")
@permission_required("webhooks.manage")
@blp.response(202, DeliverySchema)
def send_test(webhook_id):
    """Send a ``webhook.test`` event now, once (to a paused endpoint too). Follow the
    delivery in the log for the answer."""
    return services.send_test(webhook_id)


@blp.get("/<int:webhook_id>/deliveries")
@blp.arguments(DeliveryListArgs, location="query")
@blp.response(200, DeliveryPageSchema)
def list_deliveries(args, webhook_id):
    """The endpoint's delivery log, newest first: state, attempts, the last answer."""
    items, total = services.list_deliveries(webhook_id, state=args.get("state"),
                                            page=args["page"], per_page=args["per_page"])
    return {"items": items, "total": total, "page": args["page"],
            "per_page": args["per_page"]}


@blp.get("/<int:webhook_id>/deliveries/<int:delivery_id>")
@blp.response(200, DeliveryDetailSchema)
def get_delivery(webhook_id, delivery_id):
    """One delivery: the exact body sent, and every attempt (status, time, the start of the
    answer, or why none came)."""
    return services.get_delivery(webhook_id, delivery_id)


@blp.post("/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@permission_required("webhooks.manage")
@blp.response(202, DeliverySchema)
def redeliver(webhook_id, delivery_id):
    """Send a delivery again, now (same webhook-id, so the receiver can tell a repeat)."""
    return services.redeliver(webhook_id, delivery_id)
