"""API shapes for webhook endpoints, their deliveries and attempts."""

from marshmallow import Schema, fields, validate

from qrplatform.inputs import Page
from qrplatform.netguard import MAX_URL_LENGTH
from qrplatform.webhooks.models import DELIVERY_STATES
from qrplatform.webhooks.services import MAX_DESCRIPTION, MAX_EVENT_TYPES

EVENTS_HELP = ("event types to receive: declared types (GET /api/v1/webhooks/event-types), "
               "an area such as \"qr.*\", or \"*\" for all. Stream events (qr.scanned) arrive "
               "in batches, one request per window.")


class EndpointSchema(Schema):
    id = fields.Integer(dump_only=True)
    url = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    events = fields.List(fields.String(), dump_only=True, attribute="event_types")
    enabled = fields.Boolean(dump_only=True)
    disabled_reason = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "manual (paused by a person) or failing (every attempt of a delivery "
                       "failed for about a day: turned off and the owners e-mailed)"})
    disabled_at = fields.DateTime(dump_only=True, allow_none=True)
    failing_since = fields.DateTime(dump_only=True, allow_none=True, metadata={
        "description": "the first failed attempt since the last success"})
    last_success_at = fields.DateTime(dump_only=True, allow_none=True)
    previous_secret_expires_at = fields.DateTime(dump_only=True, allow_none=True, metadata={
        "description": "after a rotation, the old secret also signs until then"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class EndpointCreatedSchema(EndpointSchema):
    secret = fields.String(dump_only=True, metadata={
        "description": "shown once: verify each delivery's webhook-signature with it (any "
                       "Standard Webhooks library)"})


class EndpointCreateSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=MAX_URL_LENGTH),
                        metadata={"description": "where to POST: a public https URL"})
    events = fields.List(fields.String(validate=validate.Length(max=100)), required=True,
                         validate=validate.Length(min=1, max=MAX_EVENT_TYPES),
                         metadata={"description": EVENTS_HELP})
    description = fields.String(load_default="", validate=validate.Length(max=MAX_DESCRIPTION))
    enabled = fields.Boolean(load_default=True)


class EndpointUpdateSchema(Schema):
    url = fields.String(validate=validate.Length(min=1, max=MAX_URL_LENGTH))
    events = fields.List(fields.String(validate=validate.Length(max=100)),
                         validate=validate.Length(min=1, max=MAX_EVENT_TYPES),
                         metadata={"description": EVENTS_HELP})
    description = fields.String(validate=validate.Length(max=MAX_DESCRIPTION))
    enabled = fields.Boolean(metadata={
        "description": "false pauses the endpoint; true turns it back on (also after it was "
                       "turned off for failing: deliveries waiting since are sent)"})


class SecretSchema(Schema):
    secret = fields.String(dump_only=True, metadata={"description": "the new secret, shown "
                                                                    "once"})
    previous_secret_expires_at = fields.DateTime(dump_only=True, metadata={
        "description": "until then deliveries carry a signature with the old secret too"})


class EventTypeSchema(Schema):
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    owner = fields.String(dump_only=True, metadata={"description": "core or a plugin's name"})
    batched = fields.Boolean(dump_only=True, metadata={
        "description": "a stream event: delivered in batches ({count, events: [...]})"})


class AttemptSchema(Schema):
    number = fields.Integer(dump_only=True)
    trigger = fields.String(dump_only=True, metadata={
        "description": "event (first try), retry, redeliver or test"})
    attempted_at = fields.DateTime(dump_only=True)
    status_code = fields.Integer(dump_only=True, allow_none=True)
    error = fields.String(dump_only=True, allow_none=True)
    latency_ms = fields.Integer(dump_only=True, allow_none=True)
    response_snippet = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "the start of the endpoint's answer, as plain text"})
    address = fields.String(dump_only=True, allow_none=True,
                            metadata={"description": "the address connected to"})


class DeliverySchema(Schema):
    id = fields.Integer(dump_only=True)
    webhook_id = fields.Integer(dump_only=True, attribute="endpoint_id")
    message_id = fields.String(dump_only=True, metadata={
        "description": "the webhook-id header, the same on every attempt"})
    event_id = fields.String(dump_only=True, allow_none=True)
    event_type = fields.String(dump_only=True)
    event_count = fields.Integer(dump_only=True, metadata={
        "description": "events carried (more than one for a batch of stream events)"})
    state = fields.String(dump_only=True, metadata={"enum": list(DELIVERY_STATES)})
    attempts = fields.Integer(dump_only=True)
    max_attempts = fields.Integer(dump_only=True)
    next_attempt_at = fields.DateTime(dump_only=True, allow_none=True)
    last_status = fields.Integer(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    last_latency_ms = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    delivered_at = fields.DateTime(dump_only=True, allow_none=True)


class DeliveryDetailSchema(DeliverySchema):
    payload = fields.String(dump_only=True, metadata={"description": "the body sent, "
                                                                     "byte for byte"})
    attempt_log = fields.List(fields.Nested(AttemptSchema), dump_only=True,
                              data_key="attempt_log")


class DeliveryListArgs(Schema):
    state = fields.String(validate=validate.OneOf(DELIVERY_STATES))
    page = Page()
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
