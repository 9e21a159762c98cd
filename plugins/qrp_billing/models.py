"""billing tables: each workspace's account with Stripe, the webhook inbox, and the quota
warnings already sent this period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin

# What we know of a workspace's subscription (Stripe's statuses, plus none and trialing for
# our own card-free trial).
STATUSES = ("none", "trialing", "active", "past_due", "unpaid", "incomplete", "canceled")


class BillingAccount(TenantMixin, db.Model):
    """One per workspace that ever touched billing. The plan itself lives on the workspace
    (the core's); this row says why it is that plan."""

    __tablename__ = "billing_accounts"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    # The paid plan and interval of the subscription (the workspace's plan may differ while a
    # grace period ends or after a lapse).
    subscribed_plan: Mapped[str | None] = mapped_column(String(20))
    interval: Mapped[str | None] = mapped_column(String(10))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False,
                                                       server_default="0")
    # Dunning: when payment first failed, and until when the plan is kept.
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    grace_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Our own trial (no card): its end, and whether the workspace had one already.
    trial_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trial_used: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now(),
                                                 onupdate=func.now())


class StripeEvent(db.Model):
    """The webhook inbox: every verified event, stored before anything else happens and
    processed by a job, once (the id is Stripe's event id). Not tenant-owned: an event names
    its customer, and processing finds the workspace."""

    __tablename__ = "billing_stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    workspace_id: Mapped[int | None] = mapped_column(Integer, index=True)
    outcome: Mapped[str | None] = mapped_column(String(300))


class QuotaNotice(TenantMixin, db.Model):
    """A quota warning e-mailed for one threshold in one period, so it goes out once."""

    __tablename__ = "billing_quota_notices"
    __table_args__ = (UniqueConstraint("workspace_id", "quota", "threshold", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quota: Mapped[str] = mapped_column(String(100))
    threshold: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    used: Mapped[int] = mapped_column(Integer)
    allowed: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
