"""The teams pages: members and invitations, the audit log, accepting an invitation, two-step
sign-in settings and the second step of logging in."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, time, timedelta

import qrcode
from flask import (
    Blueprint,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required

from qrp_teams import services
from qrp_teams.forms import (
    AuditFilterForm,
    CodeForm,
    ConfirmForm,
    InvitationSignupForm,
    InviteForm,
    PasswordConfirmForm,
    PhoneForm,
    RoleForm,
    SecurityForm,
    TransferForm,
    role_choices,
)
from qrplatform import csvfiles, permissions
from qrplatform.auth import services as accounts
from qrplatform.auth import sessions
from qrplatform.errors import ServiceError
from qrplatform.web import act, form_error, render, submit

bp = Blueprint("teams", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/teams")


@bp.app_context_processor
def home_context() -> dict:
    """For the home.cards slot (teams/_home_activity.html): computed only where it renders."""
    return {"teams_recent_activity": services.recent_activity}


AUDIT_PAGE_SIZE = 50


# -- members and invitations --------------------------------------------------------------------

def _team_page(invite_form: InviteForm | None = None, transfer_form: TransferForm | None = None,
               status: int = 200):
    members = services.list_members()
    invite_form = invite_form or InviteForm(formdata=None)
    invite_form.role.choices = role_choices(include_owner=g.role == "owner")
    transfer_form = transfer_form or TransferForm(formdata=None)
    transfer_form.user_id.choices = [(m.user.id, f"{m.user.name} <{m.user.email}>")
                                     for m in members if m.user.id != g.user.id]
    role_forms = {m.user.id: RoleForm(formdata=None, role=m.role,
                                      prefix=f"m{m.user.id}").offer(m.role)
                  for m in members}
    return render(
        "teams/members.html", members=members, invitations=services.list_invitations(),
        invite_form=invite_form, transfer_form=transfer_form, role_forms=role_forms,
        security_form=SecurityForm(formdata=None,
                                   require_two_factor=services.requires_two_factor()),
        action_form=ConfirmForm(formdata=None), seats_used=services.seats_used(),
        seats_limit=services.seats_limit(), status=status)


@bp.get("/team")
@login_required
def members():
    return _team_page()


@bp.post("/team/invitations")
@login_required
def invite():
    form = InviteForm()
    form.role.choices = role_choices(include_owner=g.role == "owner")
    if form.validate_on_submit():
        try:
            invitation = services.invite(form.email.data, form.role.data)
        except ServiceError as error:
            if error.status == 403:
                raise
            form_error(form, error)
        else:
            flash(f"Invitation sent to {invitation.email}.", "success")
            return redirect(url_for("teams.members"))
    return _team_page(invite_form=form, status=422)


def _after_action(action, message: str):
    """Run a button's action; say how it went on the team page."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("This form expired. Try again.", "error")
        return redirect(url_for("teams.members"))
    return act(action, success=lambda result: message.format(result=result),
               then=url_for("teams.members"))


@bp.post("/team/invitations/<int:invitation_id>/resend")
@login_required
def resend_invitation(invitation_id: int):
    return _after_action(lambda: services.resend_invitation(invitation_id),
                         "Invitation sent to {result.email} again, with a fresh link.")


@bp.post("/team/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(invitation_id: int):
    return _after_action(lambda: services.revoke_invitation(invitation_id),
                         "The invitation to {result.email} is withdrawn; its link no longer "
                         "works.")


@bp.post("/team/members/<int:user_id>/role")
@login_required
def change_role(user_id: int):
    current = {m.user.id: m.role for m in services.list_members()}.get(user_id, "")
    form = RoleForm(prefix=f"m{user_id}").offer(current)
    if not form.validate_on_submit():
        flash("Choose one of the roles.", "error")
        return redirect(url_for("teams.members"))
    return act(lambda: services.change_role(user_id, form.role.data),
               success=lambda member: f"{member.user.name} is now {member.role}.",
               then=url_for("teams.members"), passes=(401, 404))


@bp.post("/team/members/<int:user_id>/remove")
@login_required
def remove_member(user_id: int):
    if user_id == g.user.id:
        return leave()
    return _after_action(lambda: services.remove_member(user_id),
                         "The member is removed; their API tokens for this workspace are "
                         "revoked.")


@bp.post("/team/leave")
@login_required
def leave():
    name = g.workspace.name
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            services.leave()
        except ServiceError as error:
            flash(error.for_page, "error")
            return redirect(url_for("teams.members"))
        session["workspace_id"] = None
        flash(f"You left “{name}”.", "info")
        return redirect(url_for("account.dashboard"))
    return redirect(url_for("teams.members"))


@bp.post("/team/ownership")
@login_required
def transfer_ownership():
    permissions.require("teams.transfer")
    form = TransferForm()
    form.user_id.choices = [(m.user.id, m.user.name) for m in services.list_members()
                            if m.user.id != g.user.id]
    if done := submit(form, lambda: services.transfer_ownership(form.user_id.data),
                      success=lambda member: f"{member.user.name} owns “{g.workspace.name}” "
                      "now; you are an admin.", then=url_for("teams.members")):
        return done
    return _team_page(transfer_form=form, status=422)


@bp.post("/team/security")
@login_required
def security():
    permissions.require("teams.security")
    form = SecurityForm()
    if form.validate_on_submit():
        return act(lambda: services.set_require_two_factor(form.require_two_factor.data),
                   success=lambda settings: "Every member now needs two-step sign-in."
                   if settings.require_two_factor else "Two-step sign-in is optional again.",
                   then=url_for("teams.members"), passes=())
    return redirect(url_for("teams.members"))


# -- the audit log ------------------------------------------------------------------------------

def _audit_filter() -> tuple[AuditFilterForm, services.AuditFilter]:
    form = AuditFilterForm(request.args)
    types = services.audit_event_types()
    areas = sorted({t.split(".")[0] + "." for t in types})
    form.type.choices = ([("", "Any action")] + [(a, f"Anything in {a[:-1]}") for a in areas]
                         + [(t, t) for t in types])
    form.actor.choices = [("", "Anyone")] + [(str(m.user.id), m.user.name)
                                             for m in services.list_members()]
    form.validate()  # invalid filters are shown beside their field and then ignored
    since = form.since.data if not form.since.errors else None
    until = form.until.data if not form.until.errors else None
    criteria = services.AuditFilter(
        q=(form.q.data or "").strip(),
        event_type=form.type.data if not form.type.errors else "",
        actor_id=int(form.actor.data) if form.actor.data and not form.actor.errors else None,
        since=datetime.combine(since, time.min, UTC) if since else None,
        until=datetime.combine(until, time.min, UTC) + timedelta(days=1) if until else None)
    return form, criteria


@bp.get("/team/audit")
@login_required
def audit():
    permissions.require("teams.audit")
    form, criteria = _audit_filter()
    page = max(1, form.page.data or 1) if not form.page.errors else 1
    entries, total = services.search_audit(criteria, page=page, per_page=AUDIT_PAGE_SIZE)
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render("teams/audit.html", "teams/_audit_results.html", form=form, entries=entries,
                  total=total, page=page, pages=max(1, -(-total // AUDIT_PAGE_SIZE)),
                  query=query)


@bp.get("/team/audit.csv")
@login_required
def audit_csv():
    permissions.require("teams.audit")
    _form, criteria = _audit_filter()
    name, rows = services.export_audit_csv(criteria)
    return csvfiles.download(rows, name)


# -- accepting an invitation --------------------------------------------------------------------

def _invitation_refused(error: ServiceError):
    return render("teams/invitation_invalid.html", message=error.message,
                  status=error.status)


@bp.get("/invitations/<token>")
def invitation(token: str):
    try:
        opened = services.open_invitation(token)
    except ServiceError as error:
        return _invitation_refused(error)
    signup_form = InvitationSignupForm(formdata=None, email=opened.invitation.email)
    return _invitation_page(token, opened, signup_form)


def _invitation_page(token, opened, signup_form, status=200):
    already = (current_user.is_authenticated
               and current_user.membership(opened.workspace.id) is not None)
    return render("teams/invitation.html", token=token, opened=opened, signup_form=signup_form,
                  accept_form=ConfirmForm(formdata=None), already_member=already, status=status)


def _joined(workspace):
    session["workspace_id"] = workspace.id
    flash(f"Welcome to “{workspace.name}”!", "success")
    return redirect(url_for("account.dashboard"))


@bp.post("/invitations/<token>/accept")
@login_required
def accept_invitation(token: str):
    if not ConfirmForm().validate_on_submit():
        flash("This form expired. Try again.", "error")
        return redirect(url_for("teams.invitation", token=token))
    try:
        workspace = services.accept_invitation(token, g.user)
    except ServiceError as error:
        return _invitation_refused(error)
    return _joined(workspace)


@bp.post("/invitations/<token>/signup")
def invitation_signup(token: str):
    try:
        opened = services.open_invitation(token)
    except ServiceError as error:
        return _invitation_refused(error)
    form = InvitationSignupForm()
    if form.validate_on_submit():
        try:
            user, _personal = accounts.signup(form.email.data, form.password.data,
                                              form.name.data)
        except ServiceError as error:
            form_error(form, error)
        else:
            sessions.start_session(user)
            try:
                workspace = services.accept_invitation(token, user)
            except ServiceError as error:
                flash(f"Your account is ready, but joining failed: {error.message}", "error")
                return redirect(url_for("account.dashboard"))
            return _joined(workspace)
    return _invitation_page(token, opened, form, status=422)


# -- two-step sign-in: settings -----------------------------------------------------------------

def _qr_data_uri(text: str) -> str:
    """The otpauth URI as a PNG QR code, inline (the CSP allows data: images)."""
    buffer = io.BytesIO()
    qrcode.make(text, box_size=6, border=2).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _two_factor_page(code_form: CodeForm | None = None, phone_form: PhoneForm | None = None,
                     phone_code_form: CodeForm | None = None,
                     password_form: PasswordConfirmForm | None = None,
                     disable_form: PasswordConfirmForm | None = None, status: int = 200):
    user = g.user
    factor = services.second_factor(user)
    totp_pending = factor is not None and factor.totp_pending
    uri = services.totp_uri(user, factor) if totp_pending else None
    return render(
        "teams/two_factor.html", factor=factor, enabled=services.two_factor_enabled(user),
        totp_pending=totp_pending, totp_uri=uri, totp_qr=_qr_data_uri(uri) if uri else None,
        totp_secret=factor.totp_key if totp_pending else None,
        phone_pending=factor is not None and factor.phone_pending,
        sms_available=services.sms_available(), mask_phone=services.mask_phone,
        recovery_left=services.recovery_codes_left(user),
        required=g.workspace is not None and services.requires_two_factor(),
        code_form=code_form or CodeForm(formdata=None),
        phone_form=phone_form or PhoneForm(formdata=None),
        phone_code_form=phone_code_form or CodeForm(formdata=None, prefix="phone"),
        password_form=password_form or PasswordConfirmForm(formdata=None, prefix="recovery"),
        disable_form=disable_form or PasswordConfirmForm(formdata=None, prefix="disable"),
        action_form=ConfirmForm(formdata=None), status=status)


def _recovery_codes_page(codes: list[str]):
    return render("teams/recovery_codes.html", codes=codes)


@bp.get("/settings/two-step")
@login_required
def two_factor():
    return _two_factor_page()


@bp.post("/settings/two-step/app")
@login_required
def begin_totp():
    if ConfirmForm().validate_on_submit():
        try:
            services.begin_totp(g.user)
        except ServiceError as error:
            flash(error.for_page, "error")
    return redirect(url_for("teams.two_factor"))


def _recovery_codes_or_settings(codes):
    """After turning two-step sign-in on: the first recovery codes, if it made some."""
    return _recovery_codes_page(codes) if codes else url_for("teams.two_factor")


@bp.post("/settings/two-step/app/confirm")
@login_required
def confirm_totp():
    form = CodeForm()
    if done := submit(form, lambda: services.confirm_totp(g.user, form.code.data),
                      success="Two-step sign-in is on: your authenticator app is set up.",
                      then=_recovery_codes_or_settings):
        return done
    return _two_factor_page(code_form=form, status=422)


@bp.post("/settings/two-step/phone")
@login_required
def begin_phone():
    form = PhoneForm()
    if done := submit(form, lambda: services.begin_phone(g.user, form.phone.data),
                      success="We texted a code to that number. Type it below.",
                      category="info", then=url_for("teams.two_factor")):
        return done
    return _two_factor_page(phone_form=form, status=422)


@bp.post("/settings/two-step/phone/confirm")
@login_required
def confirm_phone():
    form = CodeForm(prefix="phone")
    if done := submit(form, lambda: services.confirm_phone(g.user, form.code.data),
                      success="Two-step sign-in by SMS is on.",
                      then=_recovery_codes_or_settings):
        return done
    return _two_factor_page(phone_code_form=form, status=422)


@bp.post("/settings/two-step/recovery-codes")
@login_required
def regenerate_recovery_codes():
    form = PasswordConfirmForm(prefix="recovery")
    if done := submit(form, lambda: services.regenerate_recovery_codes(g.user,
                                                                        form.password.data),
                      success="New recovery codes: the old ones no longer work.",
                      then=_recovery_codes_page):
        return done
    return _two_factor_page(password_form=form, status=422)


@bp.post("/settings/two-step/disable")
@login_required
def disable_two_factor():
    form = PasswordConfirmForm(prefix="disable")
    if done := submit(form, lambda: services.disable_two_factor(g.user, form.password.data),
                      success="Two-step sign-in is off.", category="info",
                      then=url_for("teams.two_factor")):
        return done
    return _two_factor_page(disable_form=form, status=422)


# -- two-step sign-in: the second step of logging in --------------------------------------------

def _pending_or_restart():
    user = sessions.pending_user()
    if user is None:
        flash("Log in again: the sign-in took too long or was not started.", "info")
    return user


@bp.route("/login/two-step", methods=["GET", "POST"])
def two_step():
    user = _pending_or_restart()
    if user is None:
        return redirect(url_for("account.login"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            method = services.verify_second_step(user, form.code.data)
        except ServiceError as error:
            form_error(form, error)
        else:
            if method == "recovery code":
                left = services.recovery_codes_left(user)
                flash(f"You used a recovery code; {left} left. Make new ones in "
                      "Two-step sign-in if you are running out.", "info")
            return sessions.complete_login()
    factor = services.second_factor(user)
    return render("teams/two_step.html", form=form, factor=factor,
                  sms=factor is not None and factor.has_phone and services.sms_available(),
                  masked_phone=services.mask_phone(factor.phone if factor else None),
                  action_form=ConfirmForm(formdata=None), status=422 if form.errors else 200)


@bp.post("/login/two-step/sms")
def send_login_sms():
    user = _pending_or_restart()
    if user is None:
        return redirect(url_for("account.login"))
    if ConfirmForm().validate_on_submit():
        try:
            masked = services.send_login_code(user)
        except ServiceError as error:
            flash(error.for_page, "error")
        else:
            flash(f"We texted a code to {masked}.", "info")
    return redirect(url_for("teams.two_step"))
