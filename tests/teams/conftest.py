"""Helpers for the teams tests: a workspace with members in each role, mail and audit readers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from qrp_teams.models import AuditEntry
from qrplatform.auth.models import Membership
from qrplatform.events import outbox
from qrplatform.notify import Notification
from qrplatform.tenancy import tenant_scope, unscoped


@pytest.fixture
def add_member(db, create_user):
    """``add_member(workspace_id, role, **user_fields)`` → a User who belongs to the
    workspace with that role (as if they had accepted an invitation)."""

    def factory(workspace_id: int, role: str, **fields):
        user = create_user(**fields)
        db.session.add(Membership(user_id=user.id, workspace_id=workspace_id, role=role))
        db.session.commit()
        db.session.refresh(user)
        return user

    return factory


@pytest.fixture
def team(db, create_user, add_member):
    """An owner's personal workspace with an admin, an editor, a viewer and a billing member."""

    class Team:
        owner = create_user(email="olive@example.com", name="Olive Owner")
        workspace_id = owner.personal_workspace_id
        admin = add_member(workspace_id, "admin", email="adam@example.com", name="Adam Admin")
        editor = add_member(workspace_id, "editor", email="eddie@example.com",
                            name="Eddie Editor")
        viewer = add_member(workspace_id, "viewer", email="vera@example.com",
                            name="Vera Viewer")
        billing = add_member(workspace_id, "billing", email="bill@example.com",
                             name="Bill Billing")

    set_plan(db, Team.workspace_id, "pro")  # ten seats: room to invite
    return Team


def set_plan(db, workspace_id: int, plan: str) -> None:
    from qrplatform.auth.models import Workspace

    db.session.get(Workspace, workspace_id).plan = plan
    db.session.commit()


def mails_to(db, address: str) -> list[Notification]:
    with unscoped():
        return list(db.session.scalars(select(Notification).where(
            Notification.recipient == address, Notification.channel == "email")
            .order_by(Notification.created_at)))


def invitation_path(notification: Notification) -> str:
    """The link of an invitation e-mail, as a path for the test client."""
    match = re.search(r"http://localhost(/invitations/\S+)", notification.body_text)
    assert match, notification.body_text
    assert match.group(0) in notification.body_html
    return match.group(1)


def audit_entries(db, workspace_id: int) -> list[AuditEntry]:
    """Relay the outbox (so the audit receiver runs), then read the workspace's log."""
    outbox.drain()
    with tenant_scope(workspace_id):
        return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def turn_on_totp(app, user) -> str:
    """Set up an authenticator app for ``user`` through the service, as the settings page
    does; returns the secret (what the phone app holds)."""
    import pyotp

    from qrp_teams import services

    with app.test_request_context():
        uri = services.begin_totp(user)
        secret = pyotp.parse_uri(uri).secret
        services.confirm_totp(user, pyotp.TOTP(secret).now())
    return secret


def role_of(db, user_id: int, workspace_id: int) -> str | None:
    db.session.expire_all()
    membership = db.session.scalar(select(Membership).where(
        Membership.user_id == user_id, Membership.workspace_id == workspace_id))
    return membership.role if membership else None

