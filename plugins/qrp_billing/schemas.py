"""API shapes of the billing plugin."""

from marshmallow import Schema, fields, validate

from qrp_billing.catalogue import INTERVALS, PAID_PLANS
from qrp_billing.models import STATUSES


class MeterSchema(Schema):
    used = fields.Integer(allow_none=True, metadata={
        "description": "what the workspace uses now (this month for a monthly quota); null "
                       "for a limit that counts nothing, such as days of history"})
    limit = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    noun = fields.String()
    unit = fields.String(metadata={"description": "count, bytes, days or per minute"})
    period = fields.String(allow_none=True, metadata={"description": "month, or null"})
    soft = fields.Boolean(metadata={"description": "counted and warned about, never refused"})
    percent = fields.Integer(allow_none=True)
    state = fields.String(metadata={"description": "ok, near (80 %+), full or over"})


class BannerSchema(Schema):
    kind = fields.String()
    level = fields.String()
    message = fields.String()


class BillingSchema(Schema):
    plan = fields.String(metadata={"description": "free, pro, business or enterprise"})
    status = fields.String(metadata={"description": f"one of {', '.join(STATUSES)}"})
    interval = fields.String(allow_none=True, metadata={"description": "month or year"})
    subscribed_plan = fields.String(allow_none=True, metadata={
        "description": "the plan paid for (differs from plan after a lapse)"})
    current_period_end = fields.DateTime(allow_none=True)
    cancel_at_period_end = fields.Boolean()
    trial_ends_at = fields.DateTime(allow_none=True)
    grace_ends_at = fields.DateTime(allow_none=True, metadata={
        "description": "past due: the plan is kept until then"})
    trial_available = fields.Boolean()
    usage = fields.Dict(keys=fields.String(), values=fields.Nested(MeterSchema), metadata={
        "description": "each quota by key (qr.dynamic_codes, teams.seats, ...)"})
    banners = fields.List(fields.Nested(BannerSchema))


class PlanSchema(Schema):
    plan = fields.String()
    title = fields.String()
    pitch = fields.String()
    prices = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"description": "interval -> price as shown"})
    limits = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"description": "quota key -> limit as shown"})


class PlanChoiceSchema(Schema):
    plan = fields.String(required=True, validate=validate.OneOf(PAID_PLANS))
    interval = fields.String(load_default="month", validate=validate.OneOf(INTERVALS))


class UrlSchema(Schema):
    url = fields.Url(metadata={"description": "where to send the person (Stripe's page)"})
