"""A workspace's custom domains and what each check of them saw."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin

PENDING, VERIFIED, MISCONFIGURED = "pending", "verified", "misconfigured"
STATUSES = (PENDING, VERIFIED, MISCONFIGURED)
# The statuses in which a domain serves its workspace's links (it proved to be theirs).
SERVING = (VERIFIED, MISCONFIGURED)


class Domain(TenantMixin, db.Model):
    """``pending`` until it is shown to be the workspace's (TXT token or token file) and to
    point at us; then ``verified``, ``misconfigured`` while it no longer points at us, and
    ``verified`` again once it does. Removing it deletes the row.

    A name may wait (pending) in several workspaces, but only one can prove it is theirs."""

    __tablename__ = "domains"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        Index("uq_domains_serving_name", "name", unique=True,
              postgresql_where=text("status <> 'pending'"),
              sqlite_where=text("status <> 'pending'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), index=True)  # ASCII (punycode)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    token: Mapped[str] = mapped_column(String(64))
    # When the TXT record or the token file first proved the domain is the workspace's.
    owned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    misconfigured_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the owners were told it stopped pointing at us (once per misconfiguration).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Checks in a row that found it not (or not yet) right: the backoff grows with them.
    failed_checks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the last check saw (checks.Finding dicts), for the page and the API.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Where / sends visitors, and where unknown paths do (None: the built-in page).
    root_url: Mapped[str | None] = mapped_column(Text)
    not_found_url: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(),
                                                        onupdate=lambda: datetime.now(UTC))

    @property
    def owned(self) -> bool:
        return self.owned_at is not None

    @property
    def serving(self) -> bool:
        return self.status in SERVING


class DomainCheck(TenantMixin, db.Model):
    """One look at a domain: when, why, what it found and what the status became."""

    __tablename__ = "domains_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"),
                                           index=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    trigger: Mapped[str] = mapped_column(String(20))  # manual | scheduled | added
    status_before: Mapped[str] = mapped_column(String(20))
    status_after: Mapped[str] = mapped_column(String(20))
    conclusive: Mapped[bool] = mapped_column(Boolean, default=True)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
