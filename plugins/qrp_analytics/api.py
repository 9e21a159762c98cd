"""The analytics API for the mobile app and integrations.

``GET /api/v1/qr-codes/{code_id}/analytics`` (public contract) and the workspace's insights,
settings, alert rules and exports under ``/api/v1/analytics``.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from qrp_analytics import retention, services
from qrp_analytics.models import ALERT_KINDS, CHANNELS, COUNT_COLUMNS, DIMENSIONS
from qrplatform import permissions
from qrplatform.api import api_blueprint
from qrplatform.inputs import Day, Id

codes_blp = api_blueprint("analytics_codes", __name__, "/api/v1/qr-codes",
                          "Scan analytics of one QR code")
blp = api_blueprint("analytics_api", __name__, "/api/v1/analytics",
                    "Workspace scan analytics, privacy settings, alert rules and exports")


class AnalyticsPeriodArgs(Schema):
    range = fields.String(load_default=None, validate=validate.OneOf(list(services.RANGES)),
                          metadata={"description": "preset range ending today (default 30d)"})
    start = Day(load_default=None, metadata={
        "description": "first day, in the workspace's time zone"})
    end = Day(load_default=None, metadata={
        "description": "last day, inclusive, in the workspace's time zone"})
    granularity = fields.String(load_default=None,
                                validate=validate.OneOf(services.GRANULARITIES))


class AnalyticsCountsSchema(Schema):
    scans = fields.Integer(metadata={"description": "human + bots + previews + heads"})
    humans = fields.Integer()
    uniques = fields.Integer(metadata={"description": "unique human scanners (per code and "
                                                      "day; workspace: summed over codes)"})
    bots = fields.Integer(metadata={"description": "crawlers and workspace rules"})
    previews = fields.Integer(metadata={"description": "link previews (Slackbot, WhatsApp…)"})
    heads = fields.Integer(metadata={"description": "HEAD requests"})


class AnalyticsPeriodSchema(Schema):
    start = fields.String(metadata={"description": "first day, YYYY-MM-DD, in time_zone"})
    end = fields.String(metadata={"description": "last day, inclusive, in time_zone"})
    granularity = fields.String()
    days = fields.Integer()
    time_zone = fields.String(metadata={
        "description": "the workspace's time zone (IANA name): every day in the answer (the "
                       "period, day and week buckets, today) is a day of this zone"})


class AnalyticsSeriesSchema(Schema):
    granularity = fields.String()
    buckets = fields.List(fields.String(), metadata={
        "description": "bucket starts, ISO 8601 in time_zone with its UTC offset (a day or "
                       "week bucket starts at local midnight)"})
    time_zone = fields.String(metadata={"description": "the workspace's time zone"})
    current = fields.Dict(keys=fields.String(), values=fields.List(fields.Integer()),
                          metadata={"description": f"one list per counter: {COUNT_COLUMNS}"})
    previous = fields.Dict(keys=fields.String(), values=fields.List(fields.Integer()),
                           metadata={"description": "the previous period, bucket by bucket"})


class AnalyticsBreakdownRowSchema(Schema):
    value = fields.String()
    humans = fields.Integer()
    uniques = fields.Integer()
    others = fields.Integer(metadata={"description": "bots, previews and HEAD requests"})


class AnalyticsAnomalySchema(Schema):
    id = fields.Integer()
    code_id = fields.Integer()
    kind = fields.String(metadata={"description": "spike, drop or bot_burst"})
    started_at = fields.String()
    ended_at = fields.String(allow_none=True)
    detected_at = fields.String()
    observed = fields.Float()
    expected = fields.Float()
    score = fields.Float()
    message = fields.String()


class AnalyticsTopCodeSchema(AnalyticsCountsSchema):
    code_id = fields.Integer()
    name = fields.String()


class AnalyticsForecastDaySchema(Schema):
    day = fields.String(metadata={"description": "YYYY-MM-DD (UTC)"})
    expected = fields.Float()
    low = fields.Float()
    high = fields.Float()


class AnalyticsForecastSchema(Schema):
    ready = fields.Boolean()
    interval = fields.Float(metadata={"description": "coverage of low..high"})
    message = fields.String()
    days = fields.List(fields.Nested(AnalyticsForecastDaySchema))


class AnalyticsLiveSchema(Schema):
    today = fields.Nested(AnalyticsCountsSchema, metadata={
        "description": "today in the workspace's time zone"})
    this_hour_humans = fields.Integer()
    as_of = fields.String(metadata={"description": "now, in time_zone with its UTC offset"})
    time_zone = fields.String()


class AnalyticsInsightsSchema(Schema):
    period = fields.Nested(AnalyticsPeriodSchema)
    previous_period = fields.Nested(AnalyticsPeriodSchema)
    totals = fields.Nested(AnalyticsCountsSchema)
    previous_totals = fields.Nested(AnalyticsCountsSchema)
    series = fields.Nested(AnalyticsSeriesSchema)
    breakdowns = fields.Dict(keys=fields.String(validate=validate.OneOf(DIMENSIONS)),
                             values=fields.List(fields.Nested(AnalyticsBreakdownRowSchema)))
    anomalies = fields.List(fields.Nested(AnalyticsAnomalySchema))
    top_codes = fields.List(fields.Nested(AnalyticsTopCodeSchema))


class AnalyticsVariantSchema(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    destination = fields.String()
    weight = fields.Integer()
    scans = fields.Integer(metadata={"description": "human scans the variant sent"})
    visitors = fields.Integer(metadata={"description": "unique people it sent (per day)"})
    tracked = fields.Boolean(metadata={
        "description": "its destination is one of our pages (a microsite, a tracked link), "
                       "where conversions are seen"})
    conversions = fields.Integer(allow_none=True, metadata={
        "description": "people it sent who clicked on the microsite (or reached the tracked "
                       "link), once per person and day; null when not tracked"})
    conversion_rate = fields.Float(allow_none=True, metadata={
        "description": "conversions per 100 visitors; null without visitors or tracking"})


class AnalyticsCodeInsightsSchema(AnalyticsInsightsSchema):
    code_id = fields.Integer()
    variants = fields.List(fields.Nested(AnalyticsVariantSchema), metadata={
        "description": "the code's A/B variants: scans and conversions per variant"})
    live = fields.Nested(AnalyticsLiveSchema)
    forecast = fields.Nested(AnalyticsForecastSchema)


class AnalyticsSettingsSchema(Schema):
    record_referrer = fields.Boolean()
    record_user_agent = fields.Boolean()
    record_country = fields.Boolean()
    retention_days = fields.Integer(allow_none=True, validate=validate.Range(1, 36_500),
                                    metadata={
        "description": "null: as long as the plan allows"})
    effective_retention_days = fields.Integer(dump_only=True)
    plan_retention_days = fields.Integer(dump_only=True)
    bot_user_agent_patterns = fields.List(fields.String())
    bot_countries = fields.List(fields.String())


class AnalyticsSettingsChangeSchema(AnalyticsSettingsSchema):
    """The settings to change; fields left out keep their value."""


class AnalyticsAlertRuleSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(ALERT_KINDS))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    recipient = fields.String(required=True)
    code_id = Id(allow_none=True, load_default=None,
                             metadata={"description": "null: every code"})
    cooldown_hours = fields.Integer(load_default=24, validate=validate.Range(1, 720))
    enabled = fields.Boolean(load_default=True)


class AnalyticsAlertRulesSchema(Schema):
    rules = fields.List(fields.Nested(AnalyticsAlertRuleSchema), required=True)


class AnalyticsExportRequestSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(services.EXPORT_KINDS))
    range = fields.String(load_default=None, validate=validate.OneOf(list(services.RANGES)))
    start = Day(load_default=None)
    end = Day(load_default=None)


class AnalyticsExportAcceptedSchema(Schema):
    job_id = fields.String()
    status_url = fields.String()


def _period(args) -> services.Period:
    return services.period(args.get("range"), args.get("start"), args.get("end"),
                           args.get("granularity"))


@codes_blp.get("/<int:code_id>/analytics")
@codes_blp.arguments(AnalyticsPeriodArgs, location="query")
@codes_blp.response(200, AnalyticsCodeInsightsSchema)
def code_analytics(args, code_id):
    """A code's insights: totals, humans and bots apart, series with the previous period,
    breakdowns, anomalies, the live counter and a 14-day forecast."""
    permissions.require("analytics.view")
    services.check_code(code_id)
    result = services.insights(_period(args), code_id)
    result.update(code_id=code_id, live=services.live(code_id),
                  forecast=services.code_forecast(code_id))
    return result


@blp.get("")
@blp.arguments(AnalyticsPeriodArgs, location="query")
@blp.response(200, AnalyticsInsightsSchema)
def workspace_analytics(args):
    """The workspace's insights, with its top codes."""
    permissions.require("analytics.view")
    return services.insights(_period(args))


def _settings_dict(found) -> dict:
    return {
        "record_referrer": found.record_referrer, "record_user_agent": found.record_user_agent,
        "record_country": found.record_country, "retention_days": found.retention_days,
        "effective_retention_days": services.effective_retention(found),
        "plan_retention_days": retention.plan_retention_days(),
        "bot_user_agent_patterns": list(found.bot_user_agent_patterns or []),
        "bot_countries": list(found.bot_countries or []),
    }


@blp.get("/settings")
@blp.response(200, AnalyticsSettingsSchema)
def get_settings():
    """Privacy switches, retention and the workspace's own bot rules."""
    permissions.require("analytics.view")
    return _settings_dict(services.settings())


@blp.put("/settings")
@blp.arguments(AnalyticsSettingsChangeSchema(partial=True))
@blp.response(200, AnalyticsSettingsSchema)
def put_settings(data):
    """Change the settings; fields left out keep their value."""
    return _settings_dict(services.update_settings(data))


@blp.get("/alert-rules")
@blp.response(200, AnalyticsAlertRulesSchema)
def get_alert_rules():
    permissions.require("analytics.view")
    return {"rules": services.alert_rules()}


@blp.put("/alert-rules")
@blp.arguments(AnalyticsAlertRulesSchema)
@blp.response(200, AnalyticsAlertRulesSchema)
def put_alert_rules(data):
    """Replace the workspace's alert rules with these."""
    return {"rules": services.replace_alert_rules(data["rules"])}


@blp.post("/exports")
@blp.arguments(AnalyticsExportRequestSchema)
@blp.response(202, AnalyticsExportAcceptedSchema)
def start_export(data):
    """Build a CSV in the background; follow ``status_url`` until the job lists the CSV in
    ``files``."""
    job = services.start_export(data["kind"], _period(data))
    return {"job_id": job.id, "status_url": f"/api/v1/jobs/{job.id}"}
