"""Makers of the teams API's resources, in the shape of tests/test_cross_tenant.MAKERS:
``maker(owner)`` returns the id of a resource that the owner's workspace holds."""

from datetime import UTC, datetime, timedelta
from itertools import count

from qrp_teams.models import Invitation
from qrplatform.auth import services as accounts
from qrplatform.auth.models import Membership
from qrplatform.extensions import db
from qrplatform.tenancy import tenant_scope

_serial = count(1)


def make_member(owner) -> str:
    """Someone who belongs to the owner's workspace (written directly: no seat is spent)."""
    user, _ = accounts.signup(f"member{next(_serial)}@example.com", "long enough password",
                              "A Member")
    db.session.add(Membership(user_id=user.id, workspace_id=owner.workspace_id, role="editor"))
    db.session.commit()
    return str(user.id)


def make_invitation(owner) -> str:
    with tenant_scope(owner.workspace_id):
        now = datetime.now(UTC)
        invitation = Invitation(email=f"invitee{next(_serial)}@example.com", role="viewer",
                                nonce="n" * 32, sent_at=now, send_count=1,
                                expires_at=now + timedelta(days=7))
        db.session.add(invitation)
        db.session.commit()
        return str(invitation.id)


TEAMS_MAKERS = {
    "/api/v1/teams/members/{user_id}": make_member,
    "/api/v1/teams/invitations/{invitation_id}": make_invitation,
}
