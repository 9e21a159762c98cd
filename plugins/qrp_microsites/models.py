"""Microsites, their versions (draft snapshots and published renders) and the leads their
forms collect."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
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

STATUSES = ("draft", "published")
# A version is a snapshot of the draft (kept for undo and history) or a publication.
VERSION_KINDS = ("draft", "published")


class Microsite(TenantMixin, db.Model):
    __tablename__ = "microsites"
    __table_args__ = (Index("ix_microsites_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The public address: /m/<slug> on the platform; unique across the platform.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    # The draft: what the builder edits; publishing renders it.
    blocks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    theme: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # title, description, image_asset_id (Open Graph / Twitter card)
    seo: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    noindex: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shown (once published) for the workspace's pages that do not exist or are not
    # published, and on its domains for what they do not have; one per workspace.
    not_found_page: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    custom_css: Mapped[str] = mapped_column(Text, default="")
    # A verified custom domain whose root (/) shows this page.
    domain: Mapped[str | None] = mapped_column(String(253))
    # The draft changed since the last publication.
    changed_since_publish: Mapped[bool] = mapped_column(Boolean, default=True)
    published_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("microsites_versions.id", ondelete="SET NULL", use_alter=True))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(),
                                                        onupdate=lambda: datetime.now(UTC))

    published_version: Mapped[MicrositeVersion | None] = relationship(
        foreign_keys=[published_version_id], post_update=True)

    @property
    def password_protected(self) -> bool:
        return self.password_hash is not None


class MicrositeVersion(TenantMixin, db.Model):
    """A snapshot of a microsite's content. ``published`` ones also hold what was served:
    the page rendered once (``html``, ``css``) and its click targets and files."""

    __tablename__ = "microsites_versions"
    __table_args__ = (UniqueConstraint("microsite_id", "number"),
                      Index("ix_microsites_versions_site_kind", "microsite_id", "kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    microsite_id: Mapped[int] = mapped_column(ForeignKey("microsites.id", ondelete="CASCADE"),
                                              index=True)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    blocks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    theme: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seo: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    custom_css: Mapped[str] = mapped_column(Text, default="")
    # The published render (published versions only).
    html: Mapped[str | None] = mapped_column(Text)
    css: Mapped[str | None] = mapped_column(Text)
    # Block click key -> target URL; file path -> [content type, text].
    targets: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    files: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())

    created_by = relationship("User", lazy="joined")


class Lead(TenantMixin, db.Model):
    """What a visitor sent through a page's contact form."""

    __tablename__ = "microsites_leads"
    __table_args__ = (Index("ix_microsites_leads_site_created", "microsite_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    microsite_id: Mapped[int] = mapped_column(ForeignKey("microsites.id", ondelete="CASCADE"),
                                              index=True)
    block_id: Mapped[str] = mapped_column(String(24))
    # Field name -> what the visitor typed (only the fields the form asked for).
    data: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class Hit(TenantMixin, db.Model):
    """A page view or a block click, from the stream (``microsites.viewed``/``.clicked``):
    keyed by the event id, so a redelivered event is stored once. No IP: the visitor hash is
    salted daily."""

    __tablename__ = "microsites_hits"
    __table_args__ = (Index("ix_microsites_hits_site_day", "microsite_id", "day"),)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    microsite_id: Mapped[int] = mapped_column(ForeignKey("microsites.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))  # view | click
    classification: Mapped[str] = mapped_column(String(10))
    block_id: Mapped[str | None] = mapped_column(String(24))
    visitor_hash: Mapped[str] = mapped_column(String(64))


class ThemePreset(TenantMixin, db.Model):
    """A look saved under a name for the whole workspace, to give other pages: a theme (as a
    page's ``theme``) and custom CSS."""

    __tablename__ = "microsites_theme_presets"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    theme: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    custom_css: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
