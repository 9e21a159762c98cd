"""Account rules, shared by the HTML pages and the API."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from qrplatform import events, hosts, notify, permissions, signals
from qrplatform.auth.models import ApiToken, Membership, User, Workspace
from qrplatform.errors import Conflict, Forbidden, NotFound, ServiceError
from qrplatform.extensions import db
from qrplatform.passwords import hash_password, needs_rehash, password_matches
from qrplatform.plans import PLANS
from qrplatform.registry import registry
from qrplatform.tenancy import tenant_scope, unscoped

TOKEN_PREFIX = "qrp_"
MIN_PASSWORD_LENGTH = 10
RESET_MAX_AGE = timedelta(hours=1)
# Only refresh a token's last_used_at once a minute: not a write on every API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def normalise_email(email: str) -> str:
    # Imported on first use: email-validator (and the DNS library it brings) is some 50 ms of
    # every process's start, and only sign-ups, invitations and e-mail changes need it.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ServiceError(str(exc), field="email", status=422,
                           code="validation_error") from exc


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            f"Use at least {MIN_PASSWORD_LENGTH} characters for the password.",
            field=field, status=422, code="validation_error",
        )


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def clean_time_zone(name: str | None) -> str:
    """An IANA time zone name (Europe/Berlin) as the workspace keeps it; refuses others."""
    name = (name or "").strip()
    try:
        if not name or len(name) > 64:
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ServiceError("Unknown time zone; use an IANA name such as Europe/Berlin.",
                           field="time_zone", status=422, code="validation_error") from None
    return name


def workspace_time_zones(workspace_ids) -> dict[int, str]:
    """The time zones of these workspaces (their clock for time-of-day rules and analytics
    days), one query; a workspace not found reads as UTC."""
    ids = sorted(set(workspace_ids))
    found = dict(db.session.execute(select(Workspace.id, Workspace.time_zone)
                                    .where(Workspace.id.in_(ids))).all()) if ids else {}
    return {i: found.get(i) or "UTC" for i in ids}


def workspace_time_zone(workspace_id: int) -> str:
    """The workspace's time zone (an IANA name; UTC when unknown)."""
    return workspace_time_zones([workspace_id]).get(workspace_id, "UTC")


def time_zone(name: str | None) -> ZoneInfo:
    """The zone of a name as stored (a name that no longer exists reads as UTC)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def signup(email: str, password: str, name: str,
           time_zone: str | None = None) -> tuple[User, Workspace]:
    """``time_zone`` (the browser's, when the form could tell) sets the personal workspace's
    clock; an unknown one is ignored rather than refusing the sign-up."""
    email = normalise_email(email)
    check_password_strength(password)
    name = name.strip()
    if not name:
        raise ServiceError("Tell us your name.", field="name", status=422,
                           code="validation_error")
    if find_user_by_email(email) is not None:
        raise Conflict("An account with this e-mail already exists. Log in instead.",
                       field="email")
    user = User(email=email, name=name, password_hash=hash_password(password))
    db.session.add(user)
    workspace = _new_workspace(user, f"{name}'s workspace", personal=True)
    if time_zone:
        with contextlib.suppress(ServiceError):
            workspace.time_zone = clean_time_zone(time_zone)
    signals.user_created.send(user, workspace=workspace)
    events.publish("user.signed_up", {"user_id": user.id}, workspace_id=workspace.id,
                   actor={"type": "user", "id": user.id})
    db.session.commit()
    return user, workspace


def _new_workspace(owner: User, name: str, *, personal: bool = False) -> Workspace:
    workspace = Workspace(name=name.strip()[:120], personal=personal)
    db.session.add(workspace)
    db.session.add(Membership(user=owner, workspace=workspace, role="owner"))
    db.session.flush()
    with tenant_scope(workspace.id):
        signals.workspace_created.send(workspace, owner=owner)
    events.publish("workspace.created", {"workspace_id": workspace.id, "name": workspace.name,
                                         "personal": personal},
                   workspace_id=workspace.id, actor={"type": "user", "id": owner.id})
    return workspace


def create_workspace(owner: User, name: str) -> Workspace:
    if not name.strip():
        raise ServiceError("Give the workspace a name.", field="name", status=422,
                           code="validation_error")
    workspace = _new_workspace(owner, name)
    db.session.commit()
    return workspace


def update_workspace(workspace: Workspace, *, name: str | None = None,
                     analytics_opt_out: bool | None = None,
                     time_zone: str | None = None) -> Workspace:
    """Rename the workspace, opt it out of (or back into) product analytics, or set its time
    zone."""
    permissions.require("workspace.manage")
    changed = []
    if name is not None:
        if not name.strip():
            raise ServiceError("Give the workspace a name.", field="name", status=422,
                               code="validation_error")
        if name.strip()[:120] != workspace.name:
            workspace.name = name.strip()[:120]
            changed.append("name")
    if analytics_opt_out is not None and analytics_opt_out != workspace.analytics_opt_out:
        workspace.analytics_opt_out = analytics_opt_out
        changed.append("analytics_opt_out")
    if time_zone is not None and (time_zone := clean_time_zone(time_zone)) != workspace.time_zone:
        workspace.time_zone = time_zone
        changed.append("time_zone")
    if changed:
        events.publish("workspace.updated", {"workspace_id": workspace.id,
                                             "name": workspace.name, "changed": changed},
                       workspace_id=workspace.id)
        db.session.commit()
    return workspace


def change_plan(workspace_id: int, plan: str) -> str:
    """Put a workspace on another plan, in the caller's transaction; returns the previous plan.
    The one way a plan changes: the plugin that sells plans calls it (its quotas and rate
    limit follow at once, since both read the plan)."""
    if plan not in PLANS:
        raise ServiceError(f"Unknown plan {plan!r}; plans are {', '.join(PLANS)}.",
                           field="plan", status=422, code="validation_error")
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace {workspace_id}.")
    previous, workspace.plan = workspace.plan, plan
    return previous


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None. Takes the same time either way."""
    user = find_user_by_email(email.strip())
    # An unknown e-mail is checked against no one's hash: the same time as a wrong password.
    if not password_matches(user.password_hash if user else None, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    db.session.commit()
    return user


def member_role(user: User, workspace_id: int) -> str | None:
    membership = user.membership(workspace_id)
    return membership.role if membership else None


def require_membership(user: User, workspace_id: int) -> Membership:
    membership = user.membership(workspace_id)
    if membership is None:
        raise Forbidden("You are not a member of this workspace.", field="workspace_id")
    return membership


def member_emails(workspace_id: int, roles: tuple[str, ...] = ("owner", "admin")) -> list[str]:
    """The e-mail addresses of the workspace's members with one of ``roles`` (whom a plugin
    tells when something needs their attention)."""
    return list(db.session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, Membership.role.in_(roles))
        .order_by(User.email)))


# Memberships are the core's: plugins (teams) add, change and remove them through these, in
# the caller's transaction (they flush, the caller commits with its own event).

def add_member(user: User, workspace_id: int, role: str) -> Membership:
    membership = Membership(user_id=user.id, workspace_id=workspace_id, role=role)
    db.session.add(membership)
    db.session.flush()
    return membership


def set_member_role(membership: Membership, role: str) -> str:
    """Give a member another role; returns the previous one."""
    previous, membership.role = membership.role, role
    db.session.flush()
    return previous


def remove_member(membership: Membership) -> None:
    """End a membership; the member's API tokens for that workspace die with it (and stay
    dead if they come back)."""
    revoke_member_tokens(membership.user_id, membership.workspace_id)
    db.session.delete(membership)
    db.session.flush()


def revoke_member_tokens(user_id: int, workspace_id: int) -> int:
    """Revoke every live token of a user in a workspace; returns how many."""
    with tenant_scope(workspace_id):
        return db.session.execute(update(ApiToken).where(
            ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))).rowcount


# -- API tokens ---------------------------------------------------------------------------------

def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_scopes() -> dict[str, str]:
    """The scopes a token may carry, with what each means: everything the role may do, only
    reading, or one area (the part of a permission name before the dot, such as ``qr``).
    A full permission name (``teams.audit``) is accepted too."""
    from qrplatform import permissions

    titles = {plugin.name: plugin.label
              for plugin in registry().plugins}
    scopes = {"*": "Full access: everything your role may do",
              "read": "Read-only: look, change nothing"}
    for name in sorted(permissions.registered()):
        area = name.partition(".")[0]
        scopes.setdefault(area, titles.get(area, area.capitalize()))
    return scopes


def check_scopes(scopes: list[str] | None) -> list[str]:
    """The scopes, cleaned; a scope nobody declared is refused with the list of valid ones."""
    from qrplatform import permissions

    cleaned = list(dict.fromkeys(s.strip() for s in (scopes or ["*"]) if s.strip())) or ["*"]
    known = set(token_scopes()) | set(permissions.registered())
    unknown = [s for s in cleaned if s not in known]
    if unknown:
        raise ServiceError(
            f"Unknown scope(s): {', '.join(unknown)}. Use '*', 'read', an area "
            f"({', '.join(s for s in token_scopes() if s not in ('*', 'read'))}) "
            "or a permission name.",
            field="scopes", status=422, code="validation_error")
    return cleaned


def create_token(user: User, workspace_id: int, name: str,
                 scopes: list[str] | None = None) -> tuple[ApiToken, str]:
    """A new token; the plain value is returned once and never stored."""
    require_membership(user, workspace_id)
    scopes = check_scopes(scopes)
    name = (name or "").strip() or "API token"
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with tenant_scope(workspace_id):
        token = ApiToken(user_id=user.id, workspace_id=workspace_id, name=name[:100],
                         prefix=plain[: len(TOKEN_PREFIX) + 6], token_hash=_hash_token(plain),
                         scopes=scopes)
        db.session.add(token)
        db.session.flush()
        events.publish("token.created", {"token_id": token.id, "name": token.name,
                                         "scopes": scopes},
                       actor={"type": "user", "id": user.id})
        db.session.commit()
    return token, plain


def user_tokens(user: User) -> list[ApiToken]:
    """The user's own tokens in the current workspace (scoped by the core)."""
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    ))


def revoke_token(user: User, token_id: int) -> ApiToken:
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        events.publish("token.revoked", {"token_id": token.id, "name": token.name})
        db.session.commit()
    return token


def token_identity(plain: str) -> tuple[User, ApiToken] | None:
    """Resolve a Bearer token to its user and token (whichever workspace it belongs to)."""
    if not plain.startswith(TOKEN_PREFIX):
        return None
    with unscoped():
        token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(plain)))
        if token is None or token.revoked_at is not None:
            return None
        user = token.user
        if user.membership(token.workspace_id) is None:
            return None  # no longer a member: the token dies with the membership
        now = datetime.now(UTC)
        last = token.last_used_at
        if last is None or now - last > LAST_USED_RESOLUTION:
            token.last_used_at = now
            db.session.commit()
    return user, token


# -- password reset -----------------------------------------------------------------------------

def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def request_password_reset(email: str) -> None:
    """E-mail a reset link if the account exists; say nothing either way (no enumeration)."""
    try:
        email = normalise_email(email)
    except ServiceError:
        return
    user = find_user_by_email(email)
    if user is None:
        return
    # The token carries a fragment of the current hash: once the password changes, it is dead.
    token = _reset_serializer().dumps({"u": user.id, "h": user.password_hash[-16:]})
    link = f"{hosts.public_base_url()}/reset-password/{token}"
    notify.send_email(user.email, "password_reset", subject="Reset your QR Platform password",
                      name=user.name, link=link, hours=int(RESET_MAX_AGE.total_seconds() // 3600))
    db.session.commit()


def reset_link_user(token: str) -> User:
    """The person a reset link is for, or why it cannot be used (expired, used, not ours)."""
    try:
        payload = _reset_serializer().loads(token, max_age=int(RESET_MAX_AGE.total_seconds()))
    except SignatureExpired as exc:
        raise ServiceError("This reset link has expired. Ask for a new one.",
                           status=410, code="gone") from exc
    except BadSignature as exc:
        raise ServiceError("This reset link is not valid.", status=400) from exc
    user = db.session.get(User, payload.get("u"))
    if user is None or user.password_hash[-16:] != payload.get("h"):
        raise ServiceError("This reset link has already been used.", status=410, code="gone")
    return user


def reset_password(token: str, new_password: str, *, revoke_tokens: bool = False) -> User:
    """Set a new password from a reset link; every session ends, and with ``revoke_tokens``
    every API token of the person too."""
    user = reset_link_user(token)
    check_password_strength(new_password)
    user.password_hash = hash_password(new_password)
    if revoke_tokens:
        revoke_all_tokens(user)
    end_sessions(user)
    db.session.commit()
    return user


def update_profile(user: User, *, name: str | None = None) -> User:
    """Change the person's own details (their name, as teammates see it)."""
    if name is not None:
        if not name.strip():
            raise ServiceError("Tell us your name.", field="name", status=422,
                               code="validation_error")
        user.name = name.strip()[:120]
        db.session.commit()
    return user


def change_password(user: User, current_password: str, new_password: str, *,
                    revoke_tokens: bool = False) -> User:
    """Replace the password of a signed-in person who knows the current one. Every browser
    session of theirs ends (a page then renews its own: sessions.renew_session); with
    ``revoke_tokens`` every API token of theirs is revoked too. They are told by e-mail, so a
    change they did not make does not go unnoticed."""
    if not password_matches(user.password_hash, current_password):
        raise ServiceError("That is not your current password.", field="current_password",
                           status=422, code="validation_error")
    check_password_strength(new_password, field="new_password")
    if new_password == current_password:
        raise ServiceError("Choose a password different from the current one.",
                           field="new_password", status=422, code="validation_error")
    user.password_hash = hash_password(new_password)
    if revoke_tokens:
        revoke_all_tokens(user)
    end_sessions(user)
    notify.send_email(user.email, "password_changed", subject="Your QR Platform password "
                      "was changed", name=user.name, revoked_tokens=revoke_tokens,
                      reset_link=f"{hosts.public_base_url()}/forgot-password")
    db.session.commit()
    return user


def end_sessions(user: User) -> None:
    """End every browser session of ``user``, remember-me cookies included (see User.get_id),
    when the caller's transaction commits."""
    user.session_generation = (user.session_generation or 0) + 1


def sign_out_everywhere(user: User) -> None:
    end_sessions(user)
    db.session.commit()


def revoke_all_tokens(user: User) -> None:
    """Revoke the user's API tokens in every workspace (after a password reset, on request)."""
    now = datetime.now(UTC)
    with unscoped():
        tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                           ApiToken.revoked_at.is_(None)))
        for token in tokens:
            token.revoked_at = now
            events.publish("token.revoked", {"token_id": token.id, "name": token.name},
                           workspace_id=token.workspace_id)
