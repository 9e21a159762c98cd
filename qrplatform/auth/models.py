"""Users, workspaces (the tenants), memberships and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin

# Roles, most powerful first. Plugins grant permissions to roles (plugins.Permission).
ROLES = ("owner", "admin", "editor", "viewer", "billing")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Part of every session and remember-me cookie (get_id): raising it ends them all.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Membership.id"
    )

    def get_id(self) -> str:
        """Flask-Login's "alternative token": the id and the session generation."""
        return f"{self.id}.{self.session_generation or 0}"

    @property
    def personal_workspace_id(self) -> int | None:
        for membership in self.memberships:
            if membership.workspace.personal and membership.role == "owner":
                return membership.workspace_id
        return self.memberships[0].workspace_id if self.memberships else None

    def membership(self, workspace_id: int) -> Membership | None:
        return next((m for m in self.memberships if m.workspace_id == workspace_id), None)


class Workspace(db.Model):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    plan: Mapped[str] = mapped_column(String(20), default="free", server_default="free")
    personal: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Nothing about this workspace is sent to product analytics (qrplatform.product_analytics).
    analytics_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # IANA name (Europe/Berlin): the workspace's clock for time-of-day redirect rules.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="workspace", cascade="all, delete-orphan"
    )


class Membership(db.Model):
    """A user's role in a workspace. It defines tenancy, so it is read across workspaces."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "workspace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20), default="owner")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())

    user: Mapped[User] = relationship(back_populates="memberships")
    workspace: Mapped[Workspace] = relationship(back_populates="memberships")


class ApiToken(TenantMixin, db.Model):
    """A personal token for the mobile app and integrations, bound to one workspace.

    Only a SHA-256 of the token is kept (tokens are 256 random bits, so a slow hash adds
    nothing); the first characters stay visible so people can tell their tokens apart.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON, default=lambda: ["*"])
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class UserOnboarding(db.Model):
    """A person's progress through the home page's checklist (qrplatform.onboarding): the
    steps seen done (step key -> ISO time, kept so progress never goes backwards) and whether
    they put the checklist away. A person's own, across workspaces: not tenant data."""

    __tablename__ = "user_onboarding"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    steps: Mapped[dict] = mapped_column(JSON, default=dict)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
