"""What the teams plugin hooks into: the audit log fed from the event bus, the second step
of signing in, and the workspace rule that members use two-step sign-in."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from qrp_teams import services
from qrplatform.errors import Forbidden, ServiceError, api_error, is_api_request
from qrplatform.events import dispatch
from qrplatform.registry import registry

# Pages a member of a workspace that requires two-step sign-in can still reach without it:
# setting it up, logging out, switching workspace, accepting invitations.
SETUP_ENDPOINTS = {
    "static", "account.logout", "account.switch_workspace", "account.new_workspace",
    "teams.invitation", "teams.accept_invitation", "teams.invitation_signup",
    "teams.two_factor", "teams.begin_totp", "teams.confirm_totp", "teams.begin_phone",
    "teams.confirm_phone", "teams.regenerate_recovery_codes", "teams.disable_two_factor",
    "teams.leave",
    # The same through the API, for an app whose token predates the workspace's rule.
    *(f"teams_two_step_api.{name}" for name in (
        "get_two_step", "begin_app", "confirm_app", "begin_phone", "confirm_phone",
        "new_recovery_codes", "disable")),
}
SET_IT_UP = "POST /api/v1/me/two-step/app, or Account → Two-step sign-in in the web app"


def audit_every_declared_event(app, **_extra) -> None:
    """One audit receiver per declared event type, once every plugin has declared its own.

    Not a "*" pattern: that would also match high-volume stream events (scans, page views),
    which are not changes and would make the consumer read the stream topics.
    """
    declared = registry(app)
    for event_type in sorted(declared.event_types):
        if event_type not in declared.stream_topics:
            dispatch.register(app, "teams", event_type, services.record_event)


def ask_for_second_step(user, **_extra) -> str | None:
    if services.two_factor_enabled(user):
        return url_for("teams.two_step")
    return None


def check_token_request(user, workspace_id: int, second_factor: str | None = None,
                        **_extra) -> None:
    if services.two_factor_enabled(user):
        if not second_factor:
            raise ServiceError(
                "This account uses two-step sign-in: send 'second_factor' with "
                + _texted_or_app_code(user) + ", or a recovery code.",
                field="second_factor", status=401, code="second_factor_required")
        try:
            services.verify_second_step(user, second_factor)
        except ServiceError as error:
            error.field = "second_factor"
            raise
    elif services.requires_two_factor_in(workspace_id):
        raise Forbidden(
            "This workspace requires two-step sign-in. Ask for a token of your personal "
            f"workspace (leave out workspace_id), set it up ({SET_IT_UP}), then ask for this "
            "one again.", code="two_factor_required")


def _texted_or_app_code(user) -> str:
    """An app has no page to press "text me a code" on: asking for a token without the second
    step texts one, when the account has a phone for it (at most one per half minute)."""
    factor = services.second_factor(user)
    if factor is None or not factor.has_phone or not services.sms_available():
        return "a code from the authenticator app"
    try:
        texted = f"the code we texted to {services.send_login_code(user)}"
    except ServiceError:   # one was sent moments ago: it is still good
        texted = "the code we texted to your phone"
    app = " or one from the authenticator app" if factor.has_totp else ""
    return texted + app


def enforce_workspace_rule():
    """Before each request: a member of a workspace that requires two-step sign-in, who has
    not set it up, is sent to set it up (pages) or refused (API)."""
    user, workspace = g.get("user"), g.get("workspace")
    if user is None or workspace is None or request.endpoint is None:
        return None
    if request.endpoint in SETUP_ENDPOINTS:
        return None
    if not services.requires_two_factor() or services.two_factor_enabled(user):
        return None
    message = (f"“{workspace.name}” requires two-step sign-in. Set it up to continue.")
    if is_api_request():
        return api_error(403, f"{message} ({SET_IT_UP}.)", code="two_factor_required")
    flash(message, "info")
    return redirect(url_for("teams.two_factor"))
