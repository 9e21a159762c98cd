"""/api/v1/auth and /api/v1/me: sign up, trade a password for a token, see who you are."""

from flask import g

from qrplatform import onboarding, permissions, signals
from qrplatform.api import api_blueprint, public
from qrplatform.auth import services
from qrplatform.auth.schemas import (
    MeSchema,
    OnboardingMarkSchema,
    OnboardingSchema,
    PasswordChangeSchema,
    PasswordResetRequestSchema,
    PasswordResetSchema,
    ProfileUpdateSchema,
    SignupResultSchema,
    SignupSchema,
    TokenCreatedSchema,
    TokenRequestSchema,
    TokenSchema,
    WorkspaceCreateSchema,
    WorkspaceSchema,
    WorkspaceUpdateSchema,
)
from qrplatform.errors import ServiceError

blp = api_blueprint("auth", __name__, "/api/v1", "Accounts, API tokens and workspaces")


def workspace_view(membership) -> dict:
    ws = membership.workspace
    return {"id": ws.id, "name": ws.name, "plan": ws.plan, "personal": ws.personal,
            "role": membership.role, "analytics_opt_out": ws.analytics_opt_out,
            "time_zone": ws.time_zone}


def token_view(token, plain: str | None = None) -> dict:
    view = {name: getattr(token, name) for name in TokenSchema().fields}
    if plain is not None:
        view["token"] = plain
    return view


@blp.post("/auth/signup")
@public
@blp.arguments(SignupSchema)
@blp.response(201, SignupResultSchema)
def signup(data):
    """Create an account and its personal workspace."""
    user, workspace = services.signup(data["email"], data["password"], data["name"],
                                      data.get("time_zone"))
    return {"user": user, "workspace": workspace_view(user.membership(workspace.id))}


@blp.post("/auth/tokens")
@public
@blp.arguments(TokenRequestSchema)
@blp.response(201, TokenCreatedSchema)
def create_token(data):
    """Trade e-mail and password for a personal API token (shown once). Accounts with
    two-step sign-in also send ``second_factor``. ``scopes`` narrows what the token may do."""
    user = services.authenticate(data["email"], data["password"])
    if user is None:
        raise ServiceError("E-mail or password is wrong.", status=401, code="unauthorized")
    workspace_id = data.get("workspace_id") or user.personal_workspace_id
    services.require_membership(user, workspace_id)
    signals.api_token_requested.send(user, workspace_id=workspace_id,
                                     second_factor=data.get("second_factor"))
    token, plain = services.create_token(user, workspace_id, data["name"], data.get("scopes"))
    return token_view(token, plain)


@blp.post("/auth/password-reset")
@public
@blp.arguments(PasswordResetRequestSchema)
@blp.response(202)
def request_password_reset(data):
    """Forgot the password: e-mail a reset link to the account, if there is one. The answer is
    the same either way (it does not tell who has an account). The link opens the web page;
    an app that handles it itself sends its token to POST /auth/password-reset/confirm."""
    services.request_password_reset(data["email"])


@blp.post("/auth/password-reset/confirm")
@public
@blp.arguments(PasswordResetSchema)
@blp.response(204)
def reset_password(data):
    """Set a new password with the token of an e-mailed reset link (valid for an hour, once).
    Every browser session ends; with revoke_tokens every API token too. 410 when the
    link has expired or was used, 400 when it is not one of ours."""
    services.reset_password(data["token"], data["new_password"],
                            revoke_tokens=data["revoke_tokens"])


@blp.get("/tokens")
@blp.response(200, TokenSchema(many=True))
def list_tokens():
    """Your tokens in this workspace (never their values)."""
    return [token_view(t) for t in services.user_tokens(g.user)]


@blp.delete("/tokens/<int:token_id>")
@blp.response(204)
def revoke_token(token_id):
    """Revoke one of your tokens; it stops working at once (needs a full-access token)."""
    permissions.require_full_token()
    services.revoke_token(g.user, token_id)


@blp.get("/me")
@blp.response(200, MeSchema)
def me():
    """The caller, the token's workspace, and every workspace they belong to."""
    current = g.user.membership(g.workspace.id)
    return {
        "user": g.user,
        "workspace": workspace_view(current),
        "workspaces": [workspace_view(m) for m in g.user.memberships],
        "permissions": sorted(name for name in permissions.registered()
                              if permissions.can(name)),
    }


@blp.patch("/me")
@permissions.full_token_required
@blp.arguments(ProfileUpdateSchema)
@blp.response(200, MeSchema)
def update_me(data):
    """Change your own details (needs a full-access token)."""
    services.update_profile(g.user, name=data["name"])
    return me()


@blp.post("/me/password")
@permissions.full_token_required
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
def change_password(data):
    """Change your password, knowing the current one (needs a full-access token). Every
    browser session of yours ends; with revoke_tokens every API token of yours, this one
    included, stops working. You get an e-mail saying so."""
    services.change_password(g.user, data["current_password"], data["new_password"],
                             revoke_tokens=data["revoke_tokens"])


@blp.get("/me/onboarding")
@blp.response(200, OnboardingSchema)
def get_onboarding():
    """Your getting-started checklist in the token's workspace: each step, done or not (from
    real data where there is some), and whether you dismissed it."""
    return onboarding.checklist(g.user).as_dict()


@blp.post("/me/onboarding/dismiss")
@permissions.full_token_required
@blp.response(200, OnboardingSchema)
def dismiss_onboarding():
    """Put the checklist away (the home page stops showing it); needs a full-access token."""
    return onboarding.dismiss(g.user).as_dict()


@blp.post("/me/onboarding/restore")
@permissions.full_token_required
@blp.response(200, OnboardingSchema)
def restore_onboarding():
    """Show the checklist on the home page again; needs a full-access token."""
    return onboarding.restore(g.user).as_dict()


@blp.post("/me/onboarding/done")
@permissions.full_token_required
@blp.arguments(OnboardingMarkSchema)
@blp.response(200, OnboardingSchema)
def mark_onboarding_step(data):
    """Mark a step that only its doer can witness (``manual``: a code downloaded in the mobile
    app). Steps that follow real data cannot be marked: 422 says so."""
    onboarding.mark_manual(data["step"], g.user)
    return onboarding.checklist(g.user).as_dict()


@blp.post("/workspaces")
@permissions.full_token_required
@blp.arguments(WorkspaceCreateSchema)
@blp.response(201, WorkspaceSchema)
def create_workspace(data):
    """A new workspace, with you as its owner, on the Free plan (needs a full-access token).
    Its own token: POST /auth/tokens with its workspace_id."""
    workspace = services.create_workspace(g.user, data["name"])
    return workspace_view(g.user.membership(workspace.id))


@blp.patch("/workspace")
@blp.arguments(WorkspaceUpdateSchema)
@blp.response(200, WorkspaceSchema)
def update_workspace(data):
    """Rename the token's workspace or opt it out of product analytics (owners and admins)."""
    services.update_workspace(g.workspace, **data)
    return workspace_view(g.user.membership(g.workspace.id))
