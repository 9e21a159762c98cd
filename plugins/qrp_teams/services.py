"""The teams rules, shared by the pages and the API: members and roles, invitations and seats,
the workspace's sign-in rule, the audit log, and each person's two-step sign-in.

Callers are requests: the acting person is ``g.user`` in ``g.workspace`` with ``g.role``, and
every action checks its permission through ``qrplatform.permissions`` first.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from flask import current_app, g, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, or_, select

from qrp_teams.models import AuditEntry, Invitation, RecoveryCode, SecondFactor, WorkspaceSecurity
from qrplatform import csvfiles, events, hosts, notify, permissions, quotas
from qrplatform.auth import services as accounts
from qrplatform.auth import sessions
from qrplatform.auth.models import ROLES, Membership, User, Workspace
from qrplatform.errors import Conflict, Forbidden, NotFound, ServiceError
from qrplatform.extensions import db
from qrplatform.registry import registry
from qrplatform.tenancy import current_workspace_id, get_or_404, tenant_scope, unscoped

SEATS_QUOTA = "teams.seats"
SEATS_NOUN = "seats (members and pending invitations)"
INVITATION_MAX_AGE = timedelta(days=7)
TOTP_ISSUER = "QR Platform"
SMS_CODE_MAX_AGE = timedelta(minutes=10)
# A new SMS code at most this often, so nobody can make us text a phone in a loop.
SMS_RESEND_AFTER = timedelta(seconds=30)
RECOVERY_CODE_COUNT = 10
# Wrong codes in a row before the second step locks for LOCK_DURATION (each try is also
# rate-limited by address): six digits must not be guessable.
MAX_FAILED_CODES = 5
LOCK_DURATION = timedelta(minutes=5)
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


def _now() -> datetime:
    return datetime.now(UTC)




def _validation(message: str, field: str) -> ServiceError:
    return ServiceError(message, field=field, status=422, code="validation_error")


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise _validation(f"Choose one of the roles: {', '.join(ROLES)}.", "role")
    return role


def _require_owner_for(role_change: bool, what: str) -> None:
    if role_change and g.role != "owner":
        raise Forbidden(f"Only an owner can {what}.", code="permission_denied")


# -- members ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    membership: Membership
    two_factor: bool

    @property
    def user(self) -> User:
        return self.membership.user

    @property
    def role(self) -> str:
        return self.membership.role


def _workspace() -> Workspace:
    return g.workspace


def _memberships_query(workspace_id: int | None = None):
    # Memberships define tenancy and are not scoped by the core: filter by workspace here
    # (the one in scope: the request's, or a job's tenant_scope).
    return select(Membership).where(
        Membership.workspace_id == (workspace_id or current_workspace_id()))


def list_members() -> list[Member]:
    permissions.require("teams.view")
    memberships = list(db.session.scalars(
        _memberships_query().join(Membership.user).order_by(
            Membership.role != "owner", func.lower(User.name))))
    protected = set(db.session.scalars(select(SecondFactor.user_id).where(
        SecondFactor.user_id.in_([m.user_id for m in memberships]),
        or_(SecondFactor.totp_confirmed_at.is_not(None),
            SecondFactor.phone_confirmed_at.is_not(None)))))
    return [Member(m, m.user_id in protected) for m in memberships]


def _membership(user_id: int) -> Membership:
    membership = db.session.scalar(_memberships_query().where(Membership.user_id == user_id))
    if membership is None:
        raise NotFound("No such member in this workspace.")
    return membership


def get_member(user_id: int) -> Member:
    permissions.require("teams.view")
    membership = _membership(user_id)
    return Member(membership, two_factor_enabled(membership.user))


def _ensure_another_owner(membership: Membership, message: str) -> None:
    """A workspace always keeps an owner. The owners' rows are locked (PostgreSQL) so that two
    owners demoting each other at once cannot both succeed."""
    owners = db.session.scalars(
        _memberships_query().where(Membership.role == "owner").with_for_update()).all()
    if not [m for m in owners if m.id != membership.id]:
        raise Conflict(message)


def _member_data(membership: Membership, **extra) -> dict:
    return {"user_id": membership.user_id, "email": membership.user.email,
            "name": membership.user.name, **extra}


def change_role(user_id: int, role: str) -> Member:
    permissions.require("teams.manage")
    role = _check_role(role)
    membership = _membership(user_id)
    if role == membership.role:
        return Member(membership, two_factor_enabled(membership.user))
    _require_owner_for("owner" in (role, membership.role),
                       "make someone an owner or change an owner's role")
    if membership.role == "owner":
        _ensure_another_owner(
            membership, f"{membership.user.name} is the only owner of this workspace; make "
                        "someone else owner first.")
    previous = accounts.set_member_role(membership, role)
    events.publish("teams.member_role_changed",
                   _member_data(membership, role=role, previous_role=previous))
    db.session.commit()
    return Member(membership, two_factor_enabled(membership.user))


def remove_member(user_id: int) -> None:
    permissions.require("teams.manage")
    if user_id == g.user.id:
        leave()
        return
    membership = _membership(user_id)
    _require_owner_for(membership.role == "owner", "remove an owner")
    if membership.role == "owner":
        _ensure_another_owner(membership, "The only owner cannot be removed.")
    data = _member_data(membership, role=membership.role)
    accounts.remove_member(membership)
    events.publish("teams.member_removed", data)
    db.session.commit()


def leave() -> None:
    """Anyone may leave a workspace, except its last owner."""
    if g.get("user") is None:
        raise Forbidden("Sign in first.", status=401, code="unauthorized")
    membership = _membership(g.user.id)
    if membership.role == "owner":
        _ensure_another_owner(
            membership, f"You are the only owner of “{_workspace().name}”. Hand ownership to "
                        "another member first (Transfer ownership), then leave.")
    data = _member_data(membership, role=membership.role)
    accounts.remove_member(membership)
    events.publish("teams.member_left", data)
    db.session.commit()


def transfer_ownership(user_id: int) -> Member:
    """The new owner takes over; the previous owner stays on as admin."""
    permissions.require("teams.transfer")
    if user_id == g.user.id:
        raise _validation("You own this workspace already; choose another member.", "user_id")
    target = _membership(user_id)
    mine = _membership(g.user.id)
    previous_role = accounts.set_member_role(target, "owner")
    accounts.set_member_role(mine, "admin")
    events.publish("teams.ownership_transferred",
                   _member_data(target, previous_role=previous_role,
                                previous_owner_id=g.user.id))
    db.session.commit()
    return Member(target, two_factor_enabled(target.user))


# -- seats and invitations ----------------------------------------------------------------------

def _pending_invitations_query():
    return select(Invitation).where(Invitation.accepted_at.is_(None),
                                    Invitation.revoked_at.is_(None),
                                    Invitation.expires_at > _now())


def seats_used(excluding_invitation: int | None = None, *,
               workspace_id: int | None = None) -> int:
    """Members plus invitations still waiting (expired ones free their seat)."""
    members = db.session.scalar(select(func.count()).select_from(
        _memberships_query(workspace_id).subquery()))
    pending = _pending_invitations_query()
    if excluding_invitation is not None:
        pending = pending.where(Invitation.id != excluding_invitation)
    invited = db.session.scalar(select(func.count()).select_from(pending.subquery()))
    return members + invited


def seats_limit() -> int | None:
    return quotas.limit(SEATS_QUOTA)


def list_invitations() -> list[Invitation]:
    """Invitations not yet accepted or withdrawn (expired ones too, so they can be resent)."""
    permissions.require("teams.view")
    return list(db.session.scalars(
        select(Invitation).where(Invitation.accepted_at.is_(None),
                                 Invitation.revoked_at.is_(None))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())))


def get_invitation(invitation_id: int) -> Invitation:
    permissions.require("teams.view")
    return get_or_404(Invitation, invitation_id, "No such invitation in this workspace.")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="teams-invitation")


def invitation_max_age() -> timedelta:
    seconds = current_app.config.get("TEAMS_INVITATION_MAX_AGE")
    return timedelta(seconds=int(seconds)) if seconds else INVITATION_MAX_AGE


def invitation_link(invitation: Invitation) -> str:
    token = _serializer().dumps({"i": invitation.id, "n": invitation.nonce})
    return hosts.public_base_url() + url_for(
        "teams.invitation", token=token)


def _send_invitation(invitation: Invitation) -> None:
    now = _now()
    invitation.nonce = secrets.token_hex(16)  # any earlier link stops working
    invitation.sent_at = now
    invitation.expires_at = now + invitation_max_age()
    db.session.flush()
    workspace = _workspace()
    days = max(1, round(invitation_max_age().total_seconds() / 86400))
    notify.send_email(
        invitation.email, "teams_invitation",
        subject=f"{g.user.name} invited you to “{workspace.name}” on QR Platform",
        workspace_id=workspace.id, inviter=g.user.name, workspace=workspace.name,
        role=invitation.role, link=invitation_link(invitation), days=days)


def invite(email: str, role: str) -> Invitation:
    permissions.require("teams.manage")
    email = accounts.normalise_email(email or "")
    role = _check_role(role)
    _require_owner_for(role == "owner", "invite another owner")
    member = db.session.scalar(_memberships_query().join(Membership.user)
                               .where(func.lower(User.email) == email))
    if member is not None:
        raise Conflict(f"{email} is already a member of this workspace.", field="email")
    pending = db.session.scalar(_pending_invitations_query()
                                .where(func.lower(Invitation.email) == email))
    if pending is not None:
        raise Conflict(f"{email} is already invited; resend that invitation instead.",
                       field="email")
    quotas.check(SEATS_QUOTA)
    invitation = Invitation(email=email, role=role, invited_by_id=g.user.id, nonce="",
                            send_count=1, sent_at=_now(), expires_at=_now())
    db.session.add(invitation)
    _send_invitation(invitation)
    events.publish("teams.invitation_sent", {"invitation_id": invitation.id,
                                             "email": email, "role": role})
    db.session.commit()
    return invitation


def _open_invitation_for_change(invitation_id: int) -> Invitation:
    permissions.require("teams.manage")
    invitation = get_or_404(Invitation, invitation_id, "No such invitation in this workspace.")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was accepted already; manage the member instead.")
    if invitation.revoked_at is not None:
        raise Conflict("This invitation was withdrawn; send a new one.")
    return invitation


def resend_invitation(invitation_id: int) -> Invitation:
    """A fresh link (the old one stops working) and a new expiry."""
    invitation = _open_invitation_for_change(invitation_id)
    _require_owner_for(invitation.role == "owner", "resend an invitation to become owner")
    quotas.check(SEATS_QUOTA, used=seats_used(excluding_invitation=invitation.id))
    invitation.send_count += 1
    _send_invitation(invitation)
    events.publish("teams.invitation_resent", {"invitation_id": invitation.id,
                                               "email": invitation.email,
                                               "role": invitation.role})
    db.session.commit()
    return invitation


def revoke_invitation(invitation_id: int) -> Invitation:
    invitation = _open_invitation_for_change(invitation_id)
    invitation.revoked_at = _now()
    events.publish("teams.invitation_revoked", {"invitation_id": invitation.id,
                                                "email": invitation.email,
                                                "role": invitation.role})
    db.session.commit()
    return invitation


@dataclass(frozen=True)
class OpenInvitation:
    """What the invitation page shows before the person accepts."""

    invitation: Invitation
    workspace: Workspace
    inviter_name: str


def _inviter_name(invitation: Invitation) -> str:
    return invitation.invited_by.name if invitation.invited_by else "the workspace's owner"


def open_invitation(token: str, *, lock: bool = False) -> OpenInvitation:
    """The invitation a link stands for, or a ServiceError saying plainly why it cannot be
    used (expired, used, withdrawn, replaced, or not a link of ours)."""
    serializer = _serializer()
    try:
        payload = serializer.loads(token, max_age=int(invitation_max_age().total_seconds()))
    except SignatureExpired as exc:
        payload = serializer.load_payload(exc.payload) if exc.payload else {}
        with unscoped():
            invitation = db.session.get(Invitation, payload.get("i"))
            who = _inviter_name(invitation) if invitation else "the person who invited you"
        raise ServiceError(f"This invitation has expired. Ask {who} to send a new one.",
                           status=410, code="gone") from exc
    except BadSignature as exc:
        raise ServiceError("This invitation link is not valid. Check that you opened the "
                           "whole link from the e-mail.", status=400) from exc
    with unscoped():
        query = select(Invitation).where(Invitation.id == payload.get("i"))
        if lock:  # accepting: one request at a time per invitation, so it is used once
            query = query.with_for_update()
        invitation = db.session.scalar(query)
        if invitation is None or invitation.revoked_at is not None:
            raise ServiceError("This invitation was withdrawn.", status=410, code="gone")
        if invitation.accepted_at is not None:
            raise ServiceError("This invitation has already been used. Log in to reach the "
                               "workspace.", status=410, code="gone")
        who = _inviter_name(invitation)
        if not hmac.compare_digest(invitation.nonce, str(payload.get("n", ""))):
            raise ServiceError(f"{who} sent you a newer invitation; use the link in the latest "
                               "e-mail.", status=410, code="gone")
        if invitation.expires_at <= _now():
            raise ServiceError(f"This invitation has expired. Ask {who} to send a new one.",
                               status=410, code="gone")
        workspace = db.session.get(Workspace, invitation.workspace_id)
    return OpenInvitation(invitation, workspace, who)


def accept_invitation(token: str, user: User) -> Workspace:
    """Join the workspace with the invited role; the link is spent."""
    opened = open_invitation(token, lock=True)
    invitation, workspace = opened.invitation, opened.workspace
    if user.membership(workspace.id) is not None:
        raise Conflict(f"You are already a member of “{workspace.name}”.")
    with tenant_scope(workspace.id):
        quotas.check(SEATS_QUOTA, plan=workspace.plan,
                     used=seats_used(invitation.id, workspace_id=workspace.id))
        accounts.add_member(user, workspace.id, invitation.role)
        invitation.accepted_at = _now()
        invitation.accepted_by_id = user.id
        events.publish("teams.invitation_accepted",
                       {"invitation_id": invitation.id, "email": invitation.email,
                        "user_id": user.id, "name": user.name, "role": invitation.role},
                       workspace_id=workspace.id, actor={"type": "user", "id": user.id})
        db.session.commit()
    db.session.refresh(user)
    return workspace


# -- the workspace's sign-in rule ---------------------------------------------------------------

def workspace_security() -> WorkspaceSecurity:
    """This workspace's rule (defaults when it never set one)."""
    settings = db.session.scalar(select(WorkspaceSecurity))
    return settings if settings is not None else WorkspaceSecurity(require_two_factor=False)


def requires_two_factor() -> bool:
    """Whether this workspace requires two-step sign-in (asked on every request: no
    permission needed)."""
    return bool(db.session.scalar(select(WorkspaceSecurity.require_two_factor)))


def requires_two_factor_in(workspace_id: int) -> bool:
    with tenant_scope(workspace_id):
        return requires_two_factor()


def set_require_two_factor(required: bool) -> WorkspaceSecurity:
    permissions.require("teams.security")
    if required and not two_factor_enabled(g.user):
        # As on GitHub: whoever imposes the rule lives by it first, so they cannot lock
        # themselves out of the switch.
        raise Conflict("Turn on two-step sign-in for yourself first (Two-step sign-in), "
                       "then require it of everyone.", field="require_two_factor")
    settings = db.session.scalar(select(WorkspaceSecurity))
    if settings is None:
        settings = WorkspaceSecurity(require_two_factor=False)
        db.session.add(settings)
    if settings.require_two_factor != required:
        settings.require_two_factor = required
        if required:  # sessions from before never passed the second step
            for membership in db.session.scalars(_memberships_query()):
                sessions.end_other_sessions(membership.user)
        events.publish("teams.two_factor_required" if required
                       else "teams.two_factor_optional", {"required": required})
    db.session.commit()
    return settings


# -- the audit log ------------------------------------------------------------------------------

# How each event type reads in the log, after the actor's name ({...} are event data).
SUMMARIES = {
    "user.signed_up": "signed up",
    "workspace.created": "created the workspace “{name}”",
    "token.created": "created the API token “{name}” ({scopes})",
    "token.revoked": "revoked the API token “{name}”",
    "teams.invitation_sent": "invited {email} as {role}",
    "teams.invitation_resent": "sent the invitation to {email} again",
    "teams.invitation_revoked": "withdrew the invitation to {email}",
    "teams.invitation_accepted": "joined as {role} (invited as {email})",
    "teams.member_role_changed": "changed {name}'s role from {previous_role} to {role}",
    "teams.member_removed": "removed {name} <{email}> ({role})",
    "teams.member_left": "left the workspace",
    "teams.ownership_transferred": "handed ownership to {name} <{email}>",
    "teams.two_factor_required": "required two-step sign-in for every member",
    "teams.two_factor_optional": "stopped requiring two-step sign-in",
    "teams.two_factor_enabled": "turned on two-step sign-in ({method})",
    "teams.two_factor_disabled": "turned off two-step sign-in",
    "teams.recovery_codes_regenerated": "made new recovery codes",
}


class _Blank(dict):
    def __missing__(self, key):
        return "?"


def describe(event) -> str:
    """A sentence for the log: our own wording, else the event's declared meaning."""
    data = {key: (", ".join(map(str, value)) if isinstance(value, list) else value)
            for key, value in (event.data or {}).items()}
    template = SUMMARIES.get(event.type)
    if template:
        return template.format_map(_Blank(data))
    declared = registry().event_types.get(event.type)
    meaning = declared[1].split(" (data:")[0] if declared else event.type
    name = data.get("name")
    return f"{meaning}: {name}" if name else meaning


def _actor_label(actor: dict) -> str:
    if actor.get("type") == "user" and actor.get("id") is not None:
        user = db.session.get(User, actor["id"])
        label = f"{user.name} <{user.email}>" if user else f"user {actor['id']}"
        return label + (f" via API token {actor['token_id']}" if actor.get("token_id") else "")
    return actor.get("type", "system")


def record_event(event) -> None:
    """The audit receiver: one entry per workspace event (runs in the event's workspace); a
    batch of changes is one entry, its own event's."""
    if event.workspace_id is None or events.in_batch(event):
        return
    actor = event.actor or {"type": "system"}
    db.session.add(AuditEntry(
        event_id=event.id, event_type=event.type,
        occurred_at=datetime.fromisoformat(event.occurred_at),
        actor_type=actor.get("type", "system"), actor_user_id=actor.get("id"),
        actor_token_id=actor.get("token_id"), actor_label=_actor_label(actor)[:500],
        request_id=event.request_id, summary=describe(event), data=event.data or {},
        workspace_id=event.workspace_id))


@dataclass(frozen=True)
class AuditFilter:
    q: str = ""
    event_type: str = ""  # an exact type, or an area such as "teams." for all its types
    actor_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query):
        if self.q:
            like = f"%{self.q.lower()}%"
            query = query.where(or_(func.lower(AuditEntry.summary).like(like),
                                    func.lower(AuditEntry.actor_label).like(like),
                                    func.lower(AuditEntry.event_type).like(like),
                                    AuditEntry.request_id == self.q))
        if self.event_type.endswith("."):
            query = query.where(AuditEntry.event_type.startswith(self.event_type))
        elif self.event_type:
            query = query.where(AuditEntry.event_type == self.event_type)
        if self.actor_id is not None:
            query = query.where(AuditEntry.actor_user_id == self.actor_id)
        if self.since is not None:
            query = query.where(AuditEntry.occurred_at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.occurred_at < self.until)
        return query


def search_audit(criteria: AuditFilter, page: int = 1,
                 per_page: int = 50) -> tuple[list[AuditEntry], int]:
    permissions.require("teams.audit")
    query = criteria.apply(select(AuditEntry))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(query.order_by(AuditEntry.occurred_at.desc(),
                                              AuditEntry.id.desc())
                               .limit(per_page).offset((page - 1) * per_page))
    return list(items), total


def has_invited_someone(_user=None) -> bool:
    """For the onboarding checklist: someone besides the first member joined or was invited."""
    members = db.session.scalar(select(func.count()).select_from(
        _memberships_query().subquery())) or 0
    return members > 1 or db.session.scalar(select(Invitation.id).limit(1)) is not None


def recent_activity(limit: int = 6) -> list[AuditEntry]:
    """The newest entries of the audit log, for the home page's activity card."""
    return search_audit(AuditFilter(), per_page=limit)[0]


def audit_event_types() -> list[str]:
    permissions.require("teams.audit")
    return list(db.session.scalars(select(AuditEntry.event_type).distinct()
                                   .order_by(AuditEntry.event_type)))


CSV_COLUMNS = ("occurred_at", "actor", "actor_user_id", "actor_token_id", "event_type",
               "summary", "request_id", "event_id", "data")


def export_audit_csv(criteria: AuditFilter) -> tuple[str, Iterator[str]]:
    """The filtered log as CSV, oldest first, and its file name; produced in chunks (a long
    log is never held in memory). The permission is checked now; the rows are read while the
    response is sent, in an app context and workspace scope of their own, since the request's
    are gone by then."""
    permissions.require("teams.audit")
    app = current_app._get_current_object()
    workspace_id = _workspace().id
    query = criteria.apply(select(AuditEntry)).order_by(AuditEntry.occurred_at, AuditEntry.id)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csvfiles.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with app.app_context(), tenant_scope(workspace_id):
            for n, entry in enumerate(db.session.scalars(
                    query.execution_options(yield_per=500)), start=1):
                writer.writerow([entry.occurred_at.isoformat(), entry.actor_label,
                                 entry.actor_user_id or "", entry.actor_token_id or "",
                                 entry.event_type, entry.summary, entry.request_id or "",
                                 entry.event_id, json.dumps(entry.data, sort_keys=True)])
                if n % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return f"audit-{workspace_id}-{datetime.now(UTC).strftime('%Y%m%d-%H%M')}.csv", rows()


# -- two-step sign-in ---------------------------------------------------------------------------

def second_factor(user: User) -> SecondFactor | None:
    return db.session.get(SecondFactor, user.id)


def two_factor_enabled(user: User) -> bool:
    factor = second_factor(user)
    return factor is not None and factor.enabled


def sms_available() -> bool:
    """SMS codes are offered only when Twilio is configured (not through the log backend)."""
    return bool(current_app.config.get("TWILIO_ACCOUNT_SID"))


def _factor_for_setup(user: User) -> SecondFactor:
    factor = second_factor(user)
    if factor is None:
        factor = SecondFactor(user_id=user.id, failed_attempts=0)
        db.session.add(factor)
    return factor


def _publish_for_each_workspace(user: User, event_type: str, data: dict) -> None:
    """A person's sign-in security matters to every workspace they belong to: each one's log
    gets the event."""
    for membership in user.memberships:
        events.publish(event_type, {"user_id": user.id, "email": user.email, **data},
                       workspace_id=membership.workspace_id)


def begin_totp(user: User) -> str:
    """A new secret for an authenticator app, kept until confirmed with a first code.
    Returns the otpauth:// URI that the app scans."""
    factor = _factor_for_setup(user)
    if factor.has_totp:
        raise Conflict("An authenticator app is set up already. Turn two-step sign-in off "
                       "first to change it.")
    factor.totp_key = pyotp.random_base32()
    db.session.commit()
    return totp_uri(user, factor)


def totp_uri(user: User, factor: SecondFactor) -> str:
    return pyotp.TOTP(factor.totp_key).provisioning_uri(name=user.email,
                                                           issuer_name=TOTP_ISSUER)


def _clean_code(code: str | None) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _totp_step(factor: SecondFactor, code: str) -> int | None:
    """The time step ``code`` belongs to (this one or a neighbour, for clock drift), if it is
    a right code of the app that has not been used yet."""
    if not factor.totp_secret or not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(factor.totp_key)
    now = _now()
    for drift in (0, -1, 1):
        moment = now + timedelta(seconds=drift * totp.interval)
        if hmac.compare_digest(totp.at(moment), code):
            step = totp.timecode(moment)
            if factor.totp_last_step is not None and step <= factor.totp_last_step:
                return None  # replayed: each code signs in once
            return step
    return None


def _first_factor_done(user: User, factor: SecondFactor, method: str) -> list[str] | None:
    """Recovery codes, made the first time a factor is switched on; None after that."""
    already = db.session.scalar(select(func.count()).select_from(RecoveryCode)
                                .where(RecoveryCode.user_id == user.id))
    _publish_for_each_workspace(user, "teams.two_factor_enabled", {"method": method})
    # A session or remember-me cookie from before never passed the second step.
    sessions.end_other_sessions(user)
    return None if already else _new_recovery_codes(user)


def confirm_totp(user: User, code: str) -> list[str] | None:
    factor = second_factor(user)
    if factor is None or not factor.totp_secret:
        raise Conflict("Start the set-up again: no authenticator app is waiting for a code.")
    if factor.has_totp:
        raise Conflict("The authenticator app is set up already.")
    step = _totp_step(factor, _clean_code(code))
    if step is None:
        raise _validation("That code is not right. Check the phone's clock and type the "
                          "code the app shows now.", "code")
    factor.totp_last_step = step
    factor.totp_confirmed_at = _now()
    codes = _first_factor_done(user, factor, "authenticator app")
    db.session.commit()
    return codes


def _hash_sms_code(user_id: int, code: str) -> str:
    # Keyed: six digits hashed plainly could be read back from a copy of the table.
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


def normalise_phone(phone: str) -> str:
    cleaned = re.sub(r"[\s().-]", "", phone or "")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not PHONE.match(cleaned):
        raise _validation("Give the number in international form, e.g. +44 7700 900123.",
                          "phone")
    return cleaned


def _text_code(user: User, factor: SecondFactor, phone: str) -> None:
    now = _now()
    expires = factor.sms_code_expires_at
    if expires is not None and expires - SMS_CODE_MAX_AGE + SMS_RESEND_AFTER > now:
        raise ServiceError("A code was just sent. Wait half a minute before asking for "
                           "another.", status=429, code="rate_limited")
    code = f"{secrets.randbelow(10**6):06d}"
    factor.sms_code_hash = _hash_sms_code(user.id, code)
    factor.sms_code_phone = phone
    factor.sms_code_expires_at = now + SMS_CODE_MAX_AGE
    minutes = int(SMS_CODE_MAX_AGE.total_seconds() // 60)
    notify.send_sms(phone, f"Your QR Platform code is {code}. It expires in {minutes} "
                           "minutes. Nobody from QR Platform will ask you for it.")


def begin_phone(user: User, phone: str) -> None:
    """Text a code to a new number; the number counts once that code comes back."""
    if not sms_available():
        raise ServiceError("SMS codes are not available on this server.", status=409,
                           code="conflict")
    phone = normalise_phone(phone)
    factor = _factor_for_setup(user)
    if factor.has_phone:
        raise Conflict("A phone is set up already. Turn two-step sign-in off first to change "
                       "it.")
    factor.phone = phone
    _text_code(user, factor, phone)
    db.session.commit()


def _sms_code_matches(user: User, factor: SecondFactor, code: str, phone: str | None) -> bool:
    expires = factor.sms_code_expires_at
    if (not factor.sms_code_hash or expires is None or expires <= _now()
            or factor.sms_code_phone != phone or not code.isdigit()):
        return False
    if hmac.compare_digest(factor.sms_code_hash, _hash_sms_code(user.id, code)):
        factor.sms_code_hash = factor.sms_code_expires_at = None  # used once
        return True
    return False


def confirm_phone(user: User, code: str) -> list[str] | None:
    factor = second_factor(user)
    if factor is None or not factor.phone or factor.has_phone:
        raise Conflict("Start again: no phone number is waiting for its code.")
    if not _sms_code_matches(user, factor, _clean_code(code), factor.phone):
        raise _validation("That code is not right or has expired. Ask for a new one.", "code")
    factor.phone_confirmed_at = _now()
    codes = _first_factor_done(user, factor, "SMS")
    db.session.commit()
    return codes


def send_login_code(user: User) -> str:
    """Text a sign-in code to the person's confirmed phone; returns the masked number."""
    factor = second_factor(user)
    if factor is None or not factor.has_phone or not sms_available():
        raise Conflict("No phone is set up for SMS codes on this account.")
    _text_code(user, factor, factor.phone)
    db.session.commit()
    return mask_phone(factor.phone)


def mask_phone(phone: str | None) -> str:
    return f"•••• {phone[-4:]}" if phone else ""


def _hash_recovery_code(code: str) -> str:
    return hashlib.sha256(_clean_code(code).encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    """Fresh single-use codes (the old ones stop working); only their hashes are kept."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(alphabet) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_recovery_code(raw)))
    return codes


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def _check_password(user: User, password: str) -> None:
    if accounts.authenticate(user.email, password or "") is None:
        raise _validation("That is not your password.", "password")


def regenerate_recovery_codes(user: User, password: str) -> list[str]:
    if not two_factor_enabled(user):
        raise Conflict("Turn on two-step sign-in first.")
    _check_password(user, password)
    codes = _new_recovery_codes(user)
    _publish_for_each_workspace(user, "teams.recovery_codes_regenerated", {})
    db.session.commit()
    return codes


def disable_two_factor(user: User, password: str) -> None:
    _check_password(user, password)
    factor = second_factor(user)
    was_enabled = factor is not None and factor.enabled
    if factor is not None:
        db.session.delete(factor)
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    if was_enabled:
        _publish_for_each_workspace(user, "teams.two_factor_disabled", {})
    db.session.commit()


def verify_second_step(user: User, code: str) -> str:
    """Check a sign-in code: the authenticator app's, an SMS code or a recovery code. Returns
    which one it was; a wrong code counts towards the lock."""
    factor = second_factor(user)
    if factor is None or not factor.enabled:
        raise Conflict("This account has no two-step sign-in.")
    now = _now()
    locked_until = factor.locked_until
    if locked_until is not None and locked_until > now:
        minutes = max(1, round((locked_until - now).total_seconds() / 60))
        raise ServiceError(f"Too many wrong codes. Try again in {minutes} minute(s).",
                           field="code", status=429, code="rate_limited")
    code = _clean_code(code)
    method = None
    if factor.has_totp and (step := _totp_step(factor, code)) is not None:
        factor.totp_last_step, method = step, "authenticator app"
    elif factor.has_phone and _sms_code_matches(user, factor, code, factor.phone):
        method = "SMS"
    elif len(code) == 12:
        recovery = db.session.scalar(select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
            RecoveryCode.code_hash == _hash_recovery_code(code)).with_for_update())
        if recovery is not None:
            recovery.used_at, method = now, "recovery code"
    if method is None:
        factor.failed_attempts += 1
        if factor.failed_attempts >= MAX_FAILED_CODES:
            factor.failed_attempts, factor.locked_until = 0, now + LOCK_DURATION
        db.session.commit()
        raise ServiceError("That code is not right.", field="code", status=401,
                           code="unauthorized")
    factor.failed_attempts, factor.locked_until = 0, None
    db.session.commit()
    return method
