"""/api/v1/teams: members and roles, invitations, the sign-in rule and the audit log.

Routes that change something check their permission before reading the request body, so a
member who may not act is told which permission they lack rather than what the body misses.
"""

from datetime import UTC, datetime, time, timedelta

from flask import g

from qrp_teams import services
from qrp_teams.schemas import (
    AuditArgsSchema,
    AuditFilterSchema,
    AuditPageSchema,
    InvitationAcceptSchema,
    InvitationCreateSchema,
    InvitationSchema,
    JoinedWorkspaceSchema,
    MemberSchema,
    OwnershipSchema,
    PasswordCheckSchema,
    PhoneNumberSchema,
    RecoveryCodesSchema,
    RoleChangeSchema,
    SecuritySchema,
    TotpSetupSchema,
    TwoStepCodeSchema,
    TwoStepSchema,
)
from qrplatform import csvfiles, permissions
from qrplatform.api import api_blueprint
from qrplatform.permissions import full_token_required, permission_required

blp = api_blueprint("teams_api", __name__, "/api/v1/teams",
                    "Members, roles, invitations, two-step sign-in rule and the audit log")


def member_view(member: services.Member) -> dict:
    return {"user_id": member.user.id, "name": member.user.name, "email": member.user.email,
            "role": member.role, "two_factor": member.two_factor,
            "joined_at": member.membership.created_at}


def invitation_view(invitation) -> dict:
    return {name: getattr(invitation, name) for name in (
        "id", "email", "role", "invited_by_id", "created_at", "sent_at", "send_count",
        "expires_at", "expired")}


@blp.get("/members")
@blp.response(200, MemberSchema(many=True))
def list_members():
    """Everyone in this workspace, owners first, with their role and two-step sign-in."""
    return [member_view(m) for m in services.list_members()]


@blp.get("/members/<int:user_id>")
@blp.response(200, MemberSchema)
def get_member(user_id):
    """One member."""
    return member_view(services.get_member(user_id))


@blp.patch("/members/<int:user_id>")
@permission_required("teams.manage")
@blp.arguments(RoleChangeSchema)
@blp.response(200, MemberSchema)
def change_role(data, user_id):
    """Change a member's role. Only owners grant or take away 'owner'; the last owner keeps
    it (409)."""
    return member_view(services.change_role(user_id, data["role"]))


@blp.delete("/members/<int:user_id>")
@permission_required("teams.manage")
@blp.response(204)
def remove_member(user_id):
    """Remove a member; their API tokens for this workspace are revoked. The last owner
    cannot be removed (409)."""
    services.remove_member(user_id)


@blp.post("/leave")
@blp.response(204)
def leave():
    """Leave this workspace (any member may); the last owner cannot (409). Your tokens for
    it, this one included, stop working. Needs a full-access token."""
    permissions.require_full_token()
    services.leave()


@blp.post("/ownership")
@permission_required("teams.transfer")
@blp.arguments(OwnershipSchema)
@blp.response(200, MemberSchema)
def transfer_ownership(data):
    """Hand ownership to another member; you stay on as admin."""
    return member_view(services.transfer_ownership(data["user_id"]))


@blp.get("/invitations")
@blp.response(200, InvitationSchema(many=True))
def list_invitations():
    """Invitations not yet accepted or withdrawn (expired ones too, to resend)."""
    return [invitation_view(i) for i in services.list_invitations()]


@blp.post("/invitations")
@permission_required("teams.manage")
@blp.arguments(InvitationCreateSchema)
@blp.response(201, InvitationSchema)
def invite(data):
    """E-mail an invitation with a signed link that works once and expires. Members and
    pending invitations take seats; a full plan answers 402."""
    return invitation_view(services.invite(data["email"], data["role"]))


@blp.post("/invitations/accept")
@full_token_required
@blp.arguments(InvitationAcceptSchema)
@blp.response(201, JoinedWorkspaceSchema)
def accept_invitation(data):
    """Join the workspace an invitation link was sent for, as the signed-in person (the mobile
    app's way to accept; the link works once). Use a full-access token of any of your
    workspaces."""
    workspace = services.accept_invitation(data["token"], g.user)
    return {"id": workspace.id, "name": workspace.name,
            "role": g.user.membership(workspace.id).role}


@blp.get("/invitations/<int:invitation_id>")
@blp.response(200, InvitationSchema)
def get_invitation(invitation_id):
    """One invitation."""
    return invitation_view(services.get_invitation(invitation_id))


@blp.post("/invitations/<int:invitation_id>/resend")
@permission_required("teams.manage")
@blp.response(200, InvitationSchema)
def resend_invitation(invitation_id):
    """Send the invitation again with a fresh link and expiry; the old link stops working."""
    return invitation_view(services.resend_invitation(invitation_id))


@blp.delete("/invitations/<int:invitation_id>")
@permission_required("teams.manage")
@blp.response(204)
def revoke_invitation(invitation_id):
    """Withdraw an invitation; its link stops working."""
    services.revoke_invitation(invitation_id)


@blp.get("/security")
@blp.response(200, SecuritySchema)
def get_security():
    """The workspace's sign-in rule."""
    permissions.require("teams.view")
    return {"require_two_factor": services.requires_two_factor()}


@blp.patch("/security")
@permission_required("teams.security")
@blp.arguments(SecuritySchema)
@blp.response(200, SecuritySchema)
def set_security(data):
    """Require two-step sign-in of every member (owners only)."""
    settings = services.set_require_two_factor(data["require_two_factor"])
    return {"require_two_factor": settings.require_two_factor}


@blp.get("/audit")
@blp.arguments(AuditArgsSchema, location="query")
@blp.response(200, AuditPageSchema)
def audit(args):
    """Who changed what and when in this workspace, newest first, with the request id."""
    items, total = services.search_audit(_audit_filter(args), args["page"], args["per_page"])
    return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.get("/audit/export")
@blp.arguments(AuditFilterSchema, location="query")
@blp.response(200, content_type="text/csv",
              description=f"{', '.join(services.CSV_COLUMNS)}: one row per entry, oldest first")
def audit_export(args):
    """The log as CSV with the same filters (what the audit page downloads)."""
    name, rows = services.export_audit_csv(_audit_filter(args))
    return csvfiles.download(rows, name)


def _audit_filter(args) -> services.AuditFilter:
    since, until = args.get("since"), args.get("until")
    return services.AuditFilter(
        q=args["q"].strip(), event_type=args["type"].strip(), actor_id=args.get("actor_id"),
        since=datetime.combine(since, time.min, UTC) if since else None,
        until=datetime.combine(until, time.min, UTC) + timedelta(days=1) if until else None)


# -- your own two-step sign-in (what /settings/two-step does in the browser) -----------------------

two_step_blp = api_blueprint("teams_two_step_api", __name__, "/api/v1/me/two-step",
                             "Your two-step sign-in")


def two_step_view() -> dict:
    user = g.user
    factor = services.second_factor(user)
    return {
        "enabled": services.two_factor_enabled(user),
        "app": bool(factor and factor.has_totp),
        "app_pending": bool(factor and factor.totp_pending),
        "phone": services.mask_phone(factor.phone) if factor and factor.has_phone else None,
        "phone_pending": bool(factor and factor.phone_pending),
        "sms_available": services.sms_available(),
        "recovery_codes_left": services.recovery_codes_left(user),
        "required_here": services.requires_two_factor(),
    }


@two_step_blp.get("")
@two_step_blp.response(200, TwoStepSchema)
def get_two_step():
    """Which second steps you have, and what waits to be confirmed."""
    return two_step_view()


@two_step_blp.post("/app")
@full_token_required
@two_step_blp.response(201, TotpSetupSchema)
def begin_app():
    """Start setting up an authenticator app: its key, as an otpauth URL and as text. It counts
    once POST app/confirm gets a first code from it. Needs a full-access token."""
    url = services.begin_totp(g.user)
    return {"otpauth_url": url, "secret": services.second_factor(g.user).totp_key}


@two_step_blp.post("/app/confirm")
@full_token_required
@two_step_blp.arguments(TwoStepCodeSchema)
@two_step_blp.response(200, RecoveryCodesSchema)
def confirm_app(data):
    """The app's first code turns two-step sign-in on; the first time, with recovery codes."""
    return {"recovery_codes": services.confirm_totp(g.user, data["code"])}


@two_step_blp.post("/phone")
@full_token_required
@two_step_blp.arguments(PhoneNumberSchema)
@two_step_blp.response(202)
def begin_phone(data):
    """Text a code to a number (409 when this server sends no SMS); POST phone/confirm with
    it."""
    services.begin_phone(g.user, data["phone"])


@two_step_blp.post("/phone/confirm")
@full_token_required
@two_step_blp.arguments(TwoStepCodeSchema)
@two_step_blp.response(200, RecoveryCodesSchema)
def confirm_phone(data):
    """The texted code turns SMS codes on; the first time, with recovery codes."""
    return {"recovery_codes": services.confirm_phone(g.user, data["code"])}


@two_step_blp.post("/recovery-codes")
@full_token_required
@two_step_blp.arguments(PasswordCheckSchema)
@two_step_blp.response(200, RecoveryCodesSchema)
def new_recovery_codes(data):
    """New recovery codes (the old ones stop working), with your password."""
    return {"recovery_codes": services.regenerate_recovery_codes(g.user, data["password"])}


@two_step_blp.post("/disable")
@full_token_required
@two_step_blp.arguments(PasswordCheckSchema)
@two_step_blp.response(204)
def disable(data):
    """Turn two-step sign-in off, with your password (a workspace that requires it will ask
    again at the next sign-in)."""
    services.disable_two_factor(g.user, data["password"])
