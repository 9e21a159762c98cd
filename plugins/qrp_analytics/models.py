"""Analytics tables: raw scans, the rollups the charts read, settings, anomalies and alerts.

Counting rules (written once, here and in ingest.py):

- every ``qr.scanned`` event is stored as one raw scan, whatever its outcome;
- a scan *counts* unless its outcome is ``password_required``: the prompt is followed by the
  unlock attempt, which is recorded (and counted) on its own, so a person is not counted twice;
- each counted scan is exactly one of humans, bots, previews, heads (``scans`` is their sum);
  workspace rules turn a human into a bot with the rule as the reason;
- ``uniques`` are human scanners: the first human scan of a visitor hash for a code on a UTC
  day (the hash's salt changes daily, so a visitor cannot be followed across days or codes).
  Workspace uniques are the sum over codes.

No raw IP address is stored anywhere: the scan event carries only salted hashes, and of those
only the visitor hash is kept, for two days, to tell first scans from repeats.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin

CLASSIFICATIONS = ("human", "bot", "preview", "head")
# Breakdown dimensions kept per day; "reason" holds "<classification>: <reason>" of non-humans;
# "route" what sent a smart link's scan where: "rule <id>", "variant <id>" or "default".
# "conversion": people a code's A/B variant sent to a tracked page (a microsite they clicked
# on, or a tracked link), per "variant <id>", once a person and day (ingest.add_conversions).
DIMENSIONS = ("country", "device", "os", "browser", "referrer", "language", "reason", "outcome",
              "route", "conversion")
ALERT_KINDS = ("spike", "drop", "bot_burst")
CHANNELS = ("email", "sms")


class Scan(TenantMixin, db.Model):
    """One scan event as received. Partitioned by month on PostgreSQL (see the migration).

    The primary key includes ``occurred_at`` because PostgreSQL requires the partition key in
    every unique constraint; a replayed event carries the same id and time, so it conflicts.
    """

    __tablename__ = "analytics_scans"
    # The busiest table to write: (workspace_id, occurred_at) serves the workspace's queries.
    __tenant_index__ = False
    __table_args__ = (
        PrimaryKeyConstraint("event_id", "occurred_at"),
        Index("ix_analytics_scans_workspace_time", "workspace_id", "occurred_at"),
        Index("ix_analytics_scans_code_time", "code_id", "occurred_at"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    event_id: Mapped[str] = mapped_column(String(36))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    code_id: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(4))
    classification: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    counted: Mapped[bool] = mapped_column(Boolean)
    is_unique: Mapped[bool] = mapped_column(Boolean)
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(16))
    device: Mapped[str | None] = mapped_column(String(20))
    os: Mapped[str | None] = mapped_column(String(60))
    browser: Mapped[str | None] = mapped_column(String(60))
    referrer_domain: Mapped[str | None] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class _Counts:
    """The counters every rollup row carries."""

    scans: Mapped[int] = mapped_column(Integer, default=0)
    humans: Mapped[int] = mapped_column(Integer, default=0)
    uniques: Mapped[int] = mapped_column(Integer, default=0)
    bots: Mapped[int] = mapped_column(Integer, default=0)
    previews: Mapped[int] = mapped_column(Integer, default=0)
    heads: Mapped[int] = mapped_column(Integer, default=0)


COUNT_COLUMNS = ("scans", "humans", "uniques", "bots", "previews", "heads")


class CodeHourly(_Counts, TenantMixin, db.Model):
    __tablename__ = "analytics_code_hourly"
    __table_args__ = (
        PrimaryKeyConstraint("code_id", "hour"),
        Index("ix_analytics_code_hourly_workspace_hour", "workspace_id", "hour"),
    )

    code_id: Mapped[int] = mapped_column(Integer)
    hour: Mapped[datetime] = mapped_column(UTCDateTime())


class CodeDaily(_Counts, TenantMixin, db.Model):
    __tablename__ = "analytics_code_daily"
    __table_args__ = (
        PrimaryKeyConstraint("code_id", "day"),
        Index("ix_analytics_code_daily_workspace_day", "workspace_id", "day"),
    )

    code_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)


class CodeWeekly(_Counts, TenantMixin, db.Model):
    """A code's counts per week (Monday to Sunday of the workspace's days), kept beside the
    daily rows so that a long range reads a seventh of the rows: the weeks it covers whole
    from here, the days at its ends from ``CodeDaily`` (``services.top_codes``)."""

    __tablename__ = "analytics_code_weekly"
    __table_args__ = (
        PrimaryKeyConstraint("code_id", "week"),
        Index("ix_analytics_code_weekly_workspace_week", "workspace_id", "week"),
    )

    code_id: Mapped[int] = mapped_column(Integer)
    week: Mapped[date] = mapped_column(Date)   # its Monday


class WorkspaceHourly(_Counts, TenantMixin, db.Model):
    __tablename__ = "analytics_workspace_hourly"
    __table_args__ = (PrimaryKeyConstraint("workspace_id", "hour"),)

    hour: Mapped[datetime] = mapped_column(UTCDateTime())


class _Breakdown:
    """Daily counts of one value of one dimension (country "DE", device "mobile", ...).

    ``humans`` and ``uniques`` for people; ``others`` for bots, previews and HEADs together
    (their reasons are the "reason" dimension).
    """

    day: Mapped[date] = mapped_column(Date)
    dimension: Mapped[str] = mapped_column(String(12))
    value: Mapped[str] = mapped_column(String(255))
    humans: Mapped[int] = mapped_column(Integer, default=0)
    uniques: Mapped[int] = mapped_column(Integer, default=0)
    others: Mapped[int] = mapped_column(Integer, default=0)


BREAKDOWN_COUNTS = ("humans", "uniques", "others")


class CodeBreakdown(_Breakdown, TenantMixin, db.Model):
    __tablename__ = "analytics_code_breakdown"
    __table_args__ = (PrimaryKeyConstraint("code_id", "day", "dimension", "value"),)

    code_id: Mapped[int] = mapped_column(Integer)


class WorkspaceBreakdown(_Breakdown, TenantMixin, db.Model):
    __tablename__ = "analytics_workspace_breakdown"
    __table_args__ = (PrimaryKeyConstraint("workspace_id", "day", "dimension", "value"),)


class DailyVisitor(TenantMixin, db.Model):
    """Visitor hashes seen today and yesterday, to tell a first scan from a repeat.

    The hash is salted with the day's salt, which is destroyed at the end of the day, so these
    rows cannot be reversed; they are deleted after two days anyway (``purge_visitors``).
    """

    __tablename__ = "analytics_daily_visitors"
    __table_args__ = (PrimaryKeyConstraint("day", "code_id", "visitor_hash"),)

    day: Mapped[date] = mapped_column(Date)
    code_id: Mapped[int] = mapped_column(Integer)
    visitor_hash: Mapped[str] = mapped_column(String(32))


class AnalyticsSettings(TenantMixin, db.Model):
    """A workspace's privacy switches, retention and its own bot rules."""

    __tablename__ = "analytics_settings"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_referrer: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    record_user_agent: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    record_country: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # None: as long as the plan allows; shorter values are honoured, longer ones refused.
    retention_days: Mapped[int | None] = mapped_column(Integer)
    # Case-insensitive substrings of user agents to count as bots ("workspace rule").
    bot_user_agent_patterns: Mapped[list] = mapped_column(JSON, default=list)
    # ISO alpha-2 countries whose scans count as bots (e.g. where a monitoring service runs).
    bot_countries: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MarkedTestDevice(TenantMixin, db.Model):
    """A device whose scans count as tests today (its salted IP hash and user-agent hash).

    The hashes use the day's salt, so the mark ends with the UTC day: it can never follow a
    person beyond it. Turned on from the device itself, on the settings page.
    """

    __tablename__ = "analytics_test_devices"
    __table_args__ = (UniqueConstraint("workspace_id", "day", "ip_hash", "user_agent_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    ip_hash: Mapped[str] = mapped_column(String(64))
    user_agent_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())


class Anomaly(TenantMixin, db.Model):
    """A spike, drop or bot burst the detector found for a code."""

    __tablename__ = "analytics_anomalies"
    __table_args__ = (
        UniqueConstraint("code_id", "kind", "started_at"),
        Index("ix_analytics_anomalies_workspace_detected", "workspace_id", "detected_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    observed: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)


class AlertRule(TenantMixin, db.Model):
    """Notify someone when a code (or any code) spikes, drops or gets a burst of bots."""

    __tablename__ = "analytics_alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(320))
    # None: every code of the workspace.
    code_id: Mapped[int | None] = mapped_column(Integer)
    cooldown_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())


class AlertFiring(TenantMixin, db.Model):
    """A notification sent for a rule and an anomaly; the cooldown counts from these."""

    __tablename__ = "analytics_alert_firings"
    __table_args__ = (
        UniqueConstraint("rule_id", "anomaly_id"),
        Index("ix_analytics_alert_firings_rule_code", "rule_id", "code_id", "fired_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("analytics_alert_rules.id",
                                                    ondelete="CASCADE"))
    anomaly_id: Mapped[int] = mapped_column(ForeignKey("analytics_anomalies.id",
                                                       ondelete="CASCADE"))
    code_id: Mapped[int] = mapped_column(Integer)
    notification_id: Mapped[str | None] = mapped_column(String(36))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
