"""A workspace's files (assets), their tags, who uses them, and uploads still on their way."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin

# The type filter: what a person picks from ("image" is PNG, JPEG, WebP or GIF).
KINDS = ("image", "svg", "pdf")


class Asset(TenantMixin, db.Model):
    __tablename__ = "assets"
    __table_args__ = (Index("ix_assets_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    # png, jpeg, webp, gif, svg or pdf: decided by the content, never by the name.
    format: Mapped[str] = mapped_column(String(10))
    content_type: Mapped[str] = mapped_column(String(100))
    # Size of the stored (sanitised) file, which is what counts against the quota.
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer, default=1)
    # Storage key of the file: content-addressed under a keyed hash, per workspace.
    key: Mapped[str] = mapped_column(String(300), index=True)
    # Width -> storage key of each WebP thumbnail made so far ({"256": "a/t/…webp"}).
    thumbnails: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    thumbnail_job_id: Mapped[str | None] = mapped_column(String(36))
    # Counts replacements: users of the asset follow its id, caches follow its key.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # What the sanitiser took out, for people to read.
    removed: Mapped[list[str]] = mapped_column(JSON, default=list)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(),
                                                        onupdate=lambda: datetime.now(UTC))

    tag_rows: Mapped[list[AssetTag]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetTag.tag")
    usages: Mapped[list[AssetUsage]] = relationship(
        back_populates="asset", order_by="AssetUsage.id")
    uploaded_by = relationship("User", lazy="joined")

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def thumbnails_ready(self) -> bool:
        return bool(self.thumbnails)


class AssetTag(TenantMixin, db.Model):
    __tablename__ = "assets_tags"
    __table_args__ = (UniqueConstraint("asset_id", "tag"),
                      Index("ix_assets_tags_workspace_tag", "workspace_id", "tag"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"),
                                          index=True)
    tag: Mapped[str] = mapped_column(String(50))

    asset: Mapped[Asset] = relationship(back_populates="tag_rows")


class AssetUsage(TenantMixin, db.Model):
    """Something of another plugin that uses an asset, as that plugin reported it through
    ``services.set_usage`` (a QR code's logo, a microsite's image). Assets never read the
    user's tables: the label and link are what the user gave."""

    __tablename__ = "assets_usages"
    __table_args__ = (UniqueConstraint("asset_id", "consumer", "ref_id"),
                      Index("ix_assets_usages_consumer_ref", "workspace_id", "consumer",
                            "ref_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"),
                                          index=True)
    # What uses it, named by the using plugin: "qr.code", "microsites.page".
    consumer: Mapped[str] = mapped_column(String(50))
    ref_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    href: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())

    asset: Mapped[Asset] = relationship(back_populates="usages")


class AssetUpload(TenantMixin, db.Model):
    """A presigned upload handed out and not yet confirmed: the client PUTs the file to
    ``key`` (private), then confirms; unconfirmed ones are purged when they expire."""

    __tablename__ = "assets_uploads"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    bytes: Mapped[int] = mapped_column(BigInteger)
    # Set when the upload replaces an existing asset (it keeps its id).
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
