"""Signing a person in to the browser: the password, an optional second step, the session.

The login page checks the password, then sends ``signals.password_verified``. A plugin that
wants a second step (the teams plugin's one-time codes) answers with the URL of its page: the
person is then only *pending* — remembered in the session by user id, not signed in — until
that page calls ``complete_login()``. Without such a plugin the person is signed in at once.
"""

from __future__ import annotations

import time

from flask import current_app, has_request_context, redirect, request, session
from flask_login import current_user, login_user

from qrplatform import signals
from qrplatform.auth import services
from qrplatform.auth.models import User
from qrplatform.extensions import db

PENDING_KEY = "pending_login"
# A half-finished sign-in is forgotten after this many seconds: the password step is redone.
PENDING_MAX_AGE = 600


def start_session(user: User, remember: bool = False) -> None:
    """Sign ``user`` in with a fresh session (no fixation), in their personal workspace."""
    session.clear()
    login_user(user, remember=remember)
    session["workspace_id"] = user.personal_workspace_id


def password_verified(user: User, *, remember: bool, next_url: str):
    """The response once the password checked out: a second step if a plugin asks for one,
    else a signed-in session and a redirect to ``next_url``."""
    second_step = next((url for _receiver, url in signals.password_verified.send(user) if url),
                       None)
    if second_step is None:
        start_session(user, remember=remember)
        return redirect(next_url)
    session.clear()
    session[PENDING_KEY] = {"user_id": user.id, "remember": bool(remember), "next": next_url,
                            "at": int(time.time())}
    return redirect(second_step)


def pending_user() -> User | None:
    """The person who passed the password step and has a second step to finish, if any."""
    pending = session.get(PENDING_KEY)
    if not pending or time.time() - pending.get("at", 0) > PENDING_MAX_AGE:
        return None
    return db.session.get(User, pending["user_id"])


def complete_login():
    """Finish a pending sign-in: sign the person in and redirect to where they were going."""
    pending = session.get(PENDING_KEY) or {}
    user = pending_user()
    if user is None:
        raise RuntimeError("complete_login() without a pending sign-in")
    start_session(user, remember=pending.get("remember", False))
    return redirect(pending.get("next") or "/dashboard")


def end_other_sessions(user: User) -> None:
    """End every session of ``user`` but the one making this request, which is renewed (with
    its remember-me cookie, if it had one), when the caller's transaction commits."""
    services.end_sessions(user)
    renew_session(user)


def renew_session(user: User) -> None:
    """After ``user``'s sessions were ended, keep the one making this request (re-stamped with
    the new generation, its remember-me cookie too). Outside a request (a job, a command, a
    test seeding data) there is no own session."""
    if has_request_context() and current_user.is_authenticated and current_user.id == user.id:
        cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
        login_user(user, remember=cookie in request.cookies)


def abandon_login() -> None:
    session.pop(PENDING_KEY, None)
