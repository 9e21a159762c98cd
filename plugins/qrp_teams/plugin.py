"""What the teams plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from pathlib import Path

from qrp_teams import api, models, receivers, services, views
from qrplatform import signals
from qrplatform.plugins import (
    Highlight,
    NavItem,
    OnboardingStep,
    Permission,
    Plugin,
    Quota,
    RateLimit,
)


def setup(app) -> None:
    # After the gateway resolved the member and the workspace (registered before plugins).
    app.before_request(receivers.enforce_workspace_rule)


plugin = Plugin(
    name="teams",
    title="Team",
    description="Members and roles, e-mailed invitations with seats per plan, the audit log, "
                "two-step sign-in (authenticator app, SMS, recovery codes).",
    blueprints=[views.bp],
    api_blueprints=[api.blp, api.two_step_blp],
    models=[models.Invitation, models.WorkspaceSecurity, models.AuditEntry,
            models.SecondFactor, models.RecoveryCode],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    nav=[NavItem("Team", "teams.members", order=80, permission="teams.view", icon="users"),
         NavItem("Audit log", "teams.audit", order=85, permission="teams.audit",
                 menu="workspace", icon="scroll-text"),
         NavItem("Two-step sign-in", "teams.two_factor", order=10, menu="account",
                 icon="shield-check")],
    highlights=[Highlight("Made for teams",
                          "Invite people with roles, see every change in the audit log, and "
                          "require two-step sign-in.", icon="users", order=70)],
    events={
        "teams.invitation_sent": "someone was invited (data: invitation_id, email, role)",
        "teams.invitation_resent": "an invitation was sent again with a fresh link "
                                   "(data: invitation_id, email, role)",
        "teams.invitation_revoked": "an invitation was withdrawn "
                                    "(data: invitation_id, email, role)",
        "teams.invitation_accepted": "an invited person joined "
                                     "(data: invitation_id, email, user_id, name, role)",
        "teams.member_role_changed": "a member's role changed "
                                     "(data: user_id, email, name, role, previous_role)",
        "teams.member_removed": "a member was removed (data: user_id, email, name, role)",
        "teams.member_left": "a member left (data: user_id, email, name, role)",
        "teams.ownership_transferred": "ownership passed to another member (data: user_id, "
                                       "email, name, previous_role, previous_owner_id)",
        "teams.two_factor_required": "the workspace now requires two-step sign-in "
                                     "(data: required)",
        "teams.two_factor_optional": "the workspace no longer requires two-step sign-in "
                                     "(data: required)",
        "teams.two_factor_enabled": "a member turned on two-step sign-in "
                                    "(data: user_id, email, method)",
        "teams.two_factor_disabled": "a member turned off two-step sign-in "
                                     "(data: user_id, email)",
        "teams.recovery_codes_regenerated": "a member made new recovery codes "
                                            "(data: user_id, email)",
    },
    permissions=[
        Permission("teams.view", "See the members, their roles and waiting invitations",
                   ("owner", "admin", "editor", "viewer", "billing")),
        Permission("teams.manage", "Invite people, change roles, remove members",
                   ("owner", "admin")),
        Permission("teams.audit", "Read, search and export the audit log", ("owner", "admin")),
        Permission("teams.security", "Require two-step sign-in of every member", ("owner",)),
        Permission("teams.transfer", "Hand the workspace's ownership to another member",
                   ("owner",)),
    ],
    quotas={services.SEATS_QUOTA: Quota({"free": 3, "pro": 10, "business": None},
                                        services.SEATS_NOUN, usage=services.seats_used)},
    rate_limits={
        # Per address, on top of the per-account lock after five wrong codes.
        "teams.two_step": RateLimit("10 per minute", methods=("POST",)),
        "teams.send_login_sms": RateLimit("5 per 10 minutes"),
        "teams.begin_phone": RateLimit("5 per 10 minutes"),
        "teams.invitation_signup": RateLimit("20 per hour"),
    },
    signal_receivers={
        signals.app_created: receivers.audit_every_declared_event,
        signals.password_verified: receivers.ask_for_second_step,
        signals.api_token_requested: receivers.check_token_request,
    },
    slots={"home.cards": "teams/_home_activity.html"},
    onboarding=[OnboardingStep("teams.invite", "Invite a teammate",
                               "Codes and numbers are better shared: give someone a role.",
                               endpoint="teams.members", action="Invite someone",
                               done=services.has_invited_someone, permission="teams.manage",
                               order=40)],
    setup=setup,
)
