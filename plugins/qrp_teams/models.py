"""The teams plugin's tables: invitations, workspace security settings, the audit log (all
tenant rows), and each person's second factors (account rows, keyed by user)."""

from __future__ import annotations

from datetime import UTC, datetime

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

from qrplatform import encryption
from qrplatform.auth.models import User
from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin


class Invitation(TenantMixin, db.Model):
    """An e-mailed invitation to join a workspace with a role.

    The link carries the id and ``nonce`` signed with an expiry; a resend draws a new nonce, so
    only the newest link works, and accepting or revoking closes it for good.
    """

    __tablename__ = "teams_invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    nonce: Mapped[str] = mapped_column(String(32))
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    send_count: Mapped[int] = mapped_column(Integer, default=1)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    @property
    def expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)


class WorkspaceSecurity(TenantMixin, db.Model):
    """A workspace's sign-in rules; a workspace without a row has the defaults."""

    __tablename__ = "teams_workspace_security"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    require_two_factor: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now(), onupdate=func.now())


class AuditEntry(TenantMixin, db.Model):
    """One change in a workspace, written from its domain event (one row per event id).

    The actor's name is copied in, so the log still reads right after they leave or rename.
    """

    __tablename__ = "teams_audit_entries"
    __table_args__ = (Index("ix_teams_audit_entries_workspace_time", "workspace_id",
                            "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(100), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_token_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str] = mapped_column(String(500), default="")
    request_id: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class SecondFactor(db.Model):
    """A person's two-step sign-in: an authenticator app (TOTP) and/or a phone for SMS codes.

    ``totp_secret`` is kept until the app is confirmed with a first code; ``totp_last_step``
    refuses a code that was already used. One SMS code at a time is outstanding, kept hashed.
    Wrong codes are counted here (not in the cookie session, which a client can replay).
    """

    __tablename__ = "teams_second_factors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    # The seed, encrypted (qrplatform.encryption); read and set it through ``totp_key``.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sms_code_hash: Mapped[str | None] = mapped_column(String(64))
    sms_code_phone: Mapped[str | None] = mapped_column(String(20))
    sms_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def totp_key(self) -> str | None:
        return encryption.decrypt(self.totp_secret) if self.totp_secret else None

    @totp_key.setter
    def totp_key(self, seed: str) -> None:
        self.totp_secret = encryption.encrypt(seed)

    @property
    def has_totp(self) -> bool:
        return self.totp_confirmed_at is not None

    @property
    def has_phone(self) -> bool:
        return self.phone_confirmed_at is not None

    @property
    def totp_pending(self) -> bool:
        """An app's set-up waits for its first code."""
        return bool(self.totp_secret) and not self.has_totp

    @property
    def phone_pending(self) -> bool:
        """A number waits for the code texted to it."""
        return bool(self.phone) and not self.has_phone

    @property
    def enabled(self) -> bool:
        return self.has_totp or self.has_phone


class RecoveryCode(db.Model):
    """A single-use code for when the phone is lost; only its SHA-256 is kept (the codes are
    60 random bits, so a slow hash would add nothing)."""

    __tablename__ = "teams_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
