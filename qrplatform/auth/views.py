"""The account pages: sign up, log in and out, password reset, API tokens, workspaces."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, request, session, url_for
from flask_login import login_required, logout_user

from qrplatform import onboarding, permissions
from qrplatform.auth import services, sessions
from qrplatform.auth.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    ProfileForm,
    ResetPasswordForm,
    SignupForm,
    SwitchWorkspaceForm,
    TokenForm,
    WorkspaceForm,
    WorkspaceSettingsForm,
)
from qrplatform.errors import ServiceError
from qrplatform.web import act, form_error, render, submit

bp = Blueprint("account", __name__)


def _safe_next(default: str) -> str:
    target = request.args.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return default


@bp.get("/")
def index():
    """Members go to their home; visitors see what the platform does (what is installed)."""
    if g.get("user") is not None:
        return redirect(url_for("account.dashboard"))
    return render("landing.html")


@bp.get("/dashboard")
@login_required
def dashboard():
    found = onboarding.checklist(g.user)
    return render("dashboard.html", checklist=found if found.visible else None)


@bp.get("/onboarding")
@login_required
def onboarding_page():
    """The checklist on its own page; for htmx, the list alone (it polls itself while the
    next step waits for a scan or a download)."""
    found = onboarding.checklist(g.user)
    response = render("onboarding/page.html", "onboarding/_checklist.html", checklist=found)
    if found.newly_done:
        # Something happened elsewhere (a scan): the home page's cards fetch themselves again.
        response.headers["HX-Trigger"] = "onboarding-progress"
    return response


@bp.post("/onboarding/dismiss")
@login_required
def dismiss_onboarding():
    return act(lambda: onboarding.dismiss(g.user), then=url_for("account.dashboard"),
               success="The checklist is put away. Find it again under “Get started” in "
                       "your account menu.")


@bp.post("/onboarding/restore")
@login_required
def restore_onboarding():
    return act(lambda: onboarding.restore(g.user), then=url_for("account.dashboard"),
               success="The checklist is back on your home page.")


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignupForm()

    def sign_up():
        user, _workspace = services.signup(form.email.data, form.password.data, form.name.data,
                                          form.time_zone.data)
        sessions.start_session(user)
        return user

    if done := submit(form, sign_up, then=url_for("account.dashboard"),
                      success=lambda user: f"Welcome, {user.name}! Your workspace is ready."):
        return done
    return render("auth/signup.html", form=form, status=422 if form.errors else 200)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            form.form_errors.append("E-mail or password is wrong.")
        else:
            return sessions.password_verified(
                user, remember=form.remember.data,
                next_url=_safe_next(url_for("account.dashboard")))
    return render("auth/login.html", form=form, status=422 if form.errors else 200)


@bp.post("/logout")
def logout():
    if g.get("user") is not None:
        services.sign_out_everywhere(g.user)  # every device, remember-me cookies too
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("account.login"))


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        flash("If an account uses that address, a reset link is on its way.", "info")
        return redirect(url_for("account.login"))
    return render("auth/forgot_password.html", form=form)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:   # an expired or used link says so before a new password is typed twice
        services.reset_link_user(token)
    except ServiceError as refused:
        return render("auth/reset_password.html", refused=refused.message,
                      status=refused.status)
    form = ResetPasswordForm()
    if done := submit(form, lambda: services.reset_password(
        token, form.password.data, revoke_tokens=form.revoke_tokens.data),
                      success="Your password is changed. Log in with the new one.",
                      then=url_for("account.login")):
        return done
    return render("auth/reset_password.html", form=form, token=token)


@bp.route("/settings/account", methods=["GET", "POST"])
@login_required
def account_settings():
    """The person's own details and password (two forms on one page, told apart by name)."""
    user = g.user
    profile = ProfileForm(prefix="profile", data={"name": user.name})
    password = ChangePasswordForm(prefix="password")
    posted = request.form.get("form") if request.method == "POST" else None
    then = url_for("account.account_settings")
    if posted == "profile" and (done := submit(
            profile, lambda: services.update_profile(user, name=profile.name.data),
            success="Your details are saved.", then=then)):
        return done

    def change_password():
        services.change_password(user, password.current_password.data,
                                 password.new_password.data,
                                 revoke_tokens=password.revoke_tokens.data)
        sessions.renew_session(user)

    if posted == "password" and (done := submit(
            password, change_password, then=then,
            success="Your password is changed. Other browsers are signed out.")):
        return done
    failed = bool(profile.errors or password.errors)
    return render("auth/account.html", profile=profile, password=password,
                  status=422 if failed else 200)


def _token_form(**kwargs) -> TokenForm:
    form = TokenForm(**kwargs)
    form.areas.choices = [(scope, label) for scope, label in services.token_scopes().items()
                          if scope not in ("*", "read")]
    return form


def _tokens_page(form: TokenForm, created: dict | None = None):
    return render("auth/tokens.html", "auth/_tokens.html", form=form, created=created,
                  tokens=services.user_tokens(g.user), scope_labels=services.token_scopes())


@bp.route("/settings/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    form = _token_form()
    created = None
    if form.validate_on_submit():
        try:
            token, plain = services.create_token(g.user, g.workspace.id, form.name.data,
                                                 form.scopes)
        except ServiceError as error:
            form_error(form, error)
        else:
            created = {"name": token.name, "value": plain}
            form = _token_form(formdata=None)
    return _tokens_page(form, created)


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    token = services.revoke_token(g.user, token_id)
    flash(f"Token “{token.name}” is revoked.", "info")
    return _tokens_page(_token_form(formdata=None))


@bp.post("/workspaces/switch")
@login_required
def switch_workspace():
    form = SwitchWorkspaceForm()
    form.workspace_id.choices = [(m.workspace_id, m.workspace.name) for m in g.user.memberships]
    if form.validate_on_submit():
        session["workspace_id"] = form.workspace_id.data
        workspace = g.user.membership(form.workspace_id.data).workspace
        flash(f"Now working in “{workspace.name}”.", "info")
    else:
        flash("That workspace is not one of yours.", "error")
    return redirect(_safe_next(url_for("account.dashboard")))


@bp.route("/settings/workspace", methods=["GET", "POST"])
@login_required
def workspace_settings():
    permissions.require("workspace.manage")
    workspace = g.workspace
    form = WorkspaceSettingsForm(data={"name": workspace.name,
                                       "share_usage": not workspace.analytics_opt_out,
                                       "time_zone": workspace.time_zone})
    if done := submit(form, lambda: services.update_workspace(
            workspace, name=form.name.data, analytics_opt_out=not form.share_usage.data,
            time_zone=form.time_zone.data),
            success="Workspace settings saved.", then=url_for("account.workspace_settings")):
        return done
    return render("workspaces/settings.html", form=form,
                  status=422 if form.errors else 200)


@bp.route("/workspaces/new", methods=["GET", "POST"])
@login_required
def new_workspace():
    form = WorkspaceForm()

    def create():
        workspace = services.create_workspace(g.user, form.name.data)
        session["workspace_id"] = workspace.id
        return workspace

    if done := submit(form, create, then=url_for("account.dashboard"),
                      success=lambda workspace: f"Workspace “{workspace.name}” created."):
        return done
    return render("workspaces/new.html", form=form)
