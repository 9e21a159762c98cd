"""QR codes, their tags and the workspace's reusable design templates."""

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin

KINDS = ("static", "dynamic")
TYPES = ("url", "text", "email", "phone", "sms", "wifi", "vcard", "geo", "event")
REDIRECT_STATUSES = (302, 301, 307, 308)


class QRCode(TenantMixin, db.Model):
    __tablename__ = "qr_codes"
    __table_args__ = (Index("ix_qr_codes_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="static")
    type: Mapped[str] = mapped_column(String(10))
    # The type's fields, e.g. {"ssid": ..., "password": ..., "security": "WPA"} for wifi.
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Dynamic codes only: the short link's code, random or the owner's own slug (unique across
    # every workspace and every alias: the platform's short host serves every code).
    short_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Dynamic codes only: the custom domain (ASCII) its short link lives on; None: the
    # platform's SHORT_LINK_BASE_URL. Offered by a plugin (qrplatform.hosts.link_domains).
    domain: Mapped[str | None] = mapped_column(String(253), index=True)
    # Where the short link sends a scanner (dynamic), or the URL of a static url code; kept in
    # a column so that list search and the redirect cache need not decode ``content``.
    destination: Mapped[str | None] = mapped_column(Text)
    # Dynamic codes only: ordered redirect rules and A/B variants (``qrp_qr.smartlinks``).
    rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    variants: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    # Dynamic codes only: "open in app" per OS (``smartlinks.clean_app_link``).
    app_link: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    design: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # ``grading.Grade.as_dict()`` of the design with this payload, set whenever either changes;
    # None (codes from before grading) or an older grading version: graded when read.
    scan_grade: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    design_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("qr_design_templates.id", ondelete="SET NULL"))
    folder_id: Mapped[int | None] = mapped_column(
        ForeignKey("qr_folders.id", ondelete="SET NULL"), index=True)
    # The bulk upload that created the code (its upload id), to list what one file made.
    batch: Mapped[str | None] = mapped_column(String(32), index=True)
    # The scheduled destination check (``linkcheck``): ok, broken or skipped; why; when.
    link_status: Mapped[str | None] = mapped_column(String(10))
    link_problem: Mapped[str | None] = mapped_column(String(300))
    link_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    link_broken_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    link_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    redirect_status: Mapped[int] = mapped_column(Integer, default=302, server_default="302")
    utm: Mapped[dict[str, str] | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scan_cap: Mapped[int | None] = mapped_column(Integer)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(),
                                                        onupdate=lambda: datetime.now(UTC))

    tag_rows: Mapped[list[QRTag]] = relationship(
        back_populates="code", cascade="all, delete-orphan", lazy="selectin",
        order_by="QRTag.tag")
    # Earlier short codes that still redirect here (``services._update_slug``).
    alias_rows: Mapped[list[QRSlugAlias]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="QRSlugAlias.id")

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def state(self) -> str:
        """active, paused, expired or archived: what the short link does right now."""
        if self.archived_at is not None:
            return "archived"
        if self.paused:
            return "paused"
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            return "expired"
        return "active"


class QRTag(TenantMixin, db.Model):
    __tablename__ = "qr_tags"
    __table_args__ = (UniqueConstraint("code_id", "tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("qr_codes.id", ondelete="CASCADE"),
                                         index=True)
    tag: Mapped[str] = mapped_column(String(50), index=True)

    code: Mapped[QRCode] = relationship(back_populates="tag_rows")


class QRSlugAlias(TenantMixin, db.Model):
    """A short code the code had before its slug changed: printed codes keep working."""

    __tablename__ = "qr_slug_aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("qr_codes.id", ondelete="CASCADE"),
                                         index=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())


class QRFolder(TenantMixin, db.Model):
    """A named folder of the workspace's codes; a code is in one folder or none."""

    __tablename__ = "qr_folders"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())


class QRDesignTemplate(TenantMixin, db.Model):
    """A named design a workspace reuses for its codes."""

    __tablename__ = "qr_design_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    design: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The design's grade on a typical short link (see QRCode.scan_grade).
    scan_grade: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
