"""Sessions end when they should: logging out, a password reset and turning on two-step
sign-in end every other session of the person, "remember me" cookies included."""

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from sqlalchemy import select

from qrplatform.auth.models import ApiToken
from qrplatform.notify import Notification
from qrplatform.tenancy import unscoped
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token


def sign_in(app, user, remember=False):
    browser = app.test_client()
    response = browser.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                            "remember": "y" if remember else "",
                                            "csrf_token": csrf_token(browser)})
    assert response.status_code == 302
    return browser


def signed_in(browser) -> bool:
    return browser.get("/dashboard").status_code == 200


def remember_cookie_only(app, browser):
    """A fresh browser holding nothing but the other one's remember-me cookie."""
    cookie = browser.get_cookie("remember_token")
    assert cookie is not None
    fresh = app.test_client()
    fresh.set_cookie("remember_token", cookie.value)
    return fresh


def session_copy(app, browser):
    """A fresh browser holding a copy of the other one's session cookie (a stolen cookie)."""
    copy = app.test_client()
    copy.set_cookie("session", browser.get_cookie("session").value)
    return copy


def test_logging_out_ends_every_session_of_the_person(app, create_user):
    user = create_user()
    laptop, phone = sign_in(app, user), sign_in(app, user, remember=True)
    remembered, stolen = remember_cookie_only(app, phone), session_copy(app, laptop)
    assert signed_in(remembered) and signed_in(stolen)

    laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/dashboard")})
    assert not signed_in(laptop)
    assert not signed_in(stolen)
    assert not signed_in(phone)
    assert not signed_in(remember_cookie_only(app, phone))


def _reset_link(db, email) -> str:
    with unscoped():
        mail = db.session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert mail.recipient == email
    return re.search(r"http://localhost(/reset-password/\S+)", mail.body_text).group(1)


def test_a_password_reset_ends_sessions_and_can_revoke_tokens(app, db, create_user, api):
    user = create_user(email="reset@example.com")
    phone = sign_in(app, user, remember=True)
    remembered = remember_cookie_only(app, phone)
    token = api(user)
    assert token.get("/api/v1/me").status_code == 200

    visitor = app.test_client()
    visitor.post("/forgot-password", data={"email": user.email,
                                           "csrf_token": csrf_token(visitor, "/forgot-password")})
    link = _reset_link(db, user.email)
    page = visitor.get(link).get_data(as_text=True)
    assert 'name="revoke_tokens"' in page
    visitor.post(link, data={"password": "a brand new password",
                             "confirm": "a brand new password", "revoke_tokens": "y",
                             "csrf_token": csrf_token(visitor, link)})
    assert not signed_in(phone) and not signed_in(remembered)
    assert token.get("/api/v1/me").status_code == 401
    with unscoped():
        assert all(t.revoked_at is not None for t in db.session.scalars(select(ApiToken)))


def test_a_password_reset_keeps_tokens_unless_asked(app, db, create_user, api):
    user = create_user(email="keep@example.com")
    token = api(user)
    visitor = app.test_client()
    visitor.post("/forgot-password", data={"email": user.email,
                                           "csrf_token": csrf_token(visitor, "/forgot-password")})
    link = _reset_link(db, user.email)
    visitor.post(link, data={"password": "a brand new password",
                             "confirm": "a brand new password",
                             "csrf_token": csrf_token(visitor, link)})
    assert token.get("/api/v1/me").status_code == 200


def test_turning_on_two_step_ends_the_other_sessions(app, create_user):
    import pyotp

    user = create_user()
    laptop, phone = sign_in(app, user), sign_in(app, user, remember=True)
    remembered = remember_cookie_only(app, phone)
    laptop.post("/settings/two-step/app",
                data={"csrf_token": csrf_token(laptop, "/settings/two-step")})
    page = laptop.get("/settings/two-step").get_data(as_text=True)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    done = laptop.post("/settings/two-step/app/confirm", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(laptop, "/settings/two-step")})
    assert done.status_code == 200
    assert signed_in(laptop)  # the session that turned it on stays
    assert not signed_in(phone)
    # the remember-me cookie from before no longer skips the second step
    assert not signed_in(remembered)


def test_the_remember_cookie_carries_the_session_cookie_flags(make_app, create_user):
    app = make_app(SESSION_COOKIE_SECURE=True, QRP_REMEMBER_DAYS=14)
    user = create_user()
    browser = app.test_client()
    response = browser.post("/login", base_url="https://localhost",
                            headers={"Referer": "https://localhost/login"}, data={
        "email": user.email, "password": DEFAULT_PASSWORD, "remember": "y",
        "csrf_token": csrf_token(browser)})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    remember, session = cookies["remember_token"], cookies["session"]
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag in session and flag in remember, (flag, remember)
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", remember).group(1))
    assert abs(expires - datetime.now(UTC) - timedelta(days=14)) < timedelta(minutes=5)


def test_changing_the_password_keeps_this_browser_and_ends_every_other(app, db, create_user,
                                                                        api):
    user = create_user(email="change@example.com")
    laptop, phone = sign_in(app, user, remember=True), sign_in(app, user, remember=True)
    remembered = remember_cookie_only(app, phone)
    token = api(user)
    page = "/settings/account"

    refused = laptop.post(page, data={
        "form": "password", "password-current_password": "not my password",
        "password-new_password": "a brand new password",
        "password-confirm": "a brand new password", "csrf_token": csrf_token(laptop, page)})
    assert refused.status_code == 422
    assert "That is not your current password." in refused.get_data(as_text=True)
    assert signed_in(phone)

    changed = laptop.post(page, data={
        "form": "password", "password-current_password": DEFAULT_PASSWORD,
        "password-new_password": "a brand new password",
        "password-confirm": "a brand new password", "csrf_token": csrf_token(laptop, page)})
    assert changed.status_code == 302
    assert signed_in(laptop), "the browser that changed it stays signed in"
    assert not signed_in(phone)
    assert not signed_in(remembered)
    assert token.get("/api/v1/me").status_code == 200, "tokens live on unless revoked"
    with unscoped():
        mail = db.session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert mail.recipient == user.email and "password" in mail.subject.lower()
    again = app.test_client()
    assert again.post("/login", data={"email": user.email, "password": "a brand new password",
                                      "csrf_token": csrf_token(again)}).status_code == 302


def test_the_api_changes_the_password_and_can_revoke_every_token(app, create_user, api):
    user = create_user()
    browser = sign_in(app, user)
    token, other = api(user), api(user)

    wrong = token.post("/api/v1/me/password", json={"current_password": "nope nope nope",
                                                    "new_password": "a brand new password"})
    assert wrong.status_code == 422
    assert wrong.json["error"]["fields"] == {"current_password": ["That is not your current "
                                                                  "password."]}
    short = token.post("/api/v1/me/password", json={"current_password": DEFAULT_PASSWORD,
                                                    "new_password": "short"})
    assert short.status_code == 422 and "new_password" in short.json["error"]["fields"]

    done = token.post("/api/v1/me/password", json={
        "current_password": DEFAULT_PASSWORD, "new_password": "a brand new password",
        "revoke_tokens": True})
    assert done.status_code == 204
    assert not signed_in(browser)
    assert token.get("/api/v1/me").status_code == 401
    assert other.get("/api/v1/me").status_code == 401


def test_a_read_token_cannot_change_the_password_or_the_name(app, create_user, api, db):
    from qrplatform.auth import services

    user = create_user()
    _token, plain = services.create_token(user, user.personal_workspace_id, "read", ["read"])
    reader = app.test_client()
    headers = {"Authorization": f"Bearer {plain}"}
    assert reader.post("/api/v1/me/password", headers=headers, json={
        "current_password": DEFAULT_PASSWORD, "new_password": "a brand new password"}
    ).status_code == 403
    assert reader.patch("/api/v1/me", headers=headers, json={"name": "Mallory"}
                        ).status_code == 403
    renamed = api(user).patch("/api/v1/me", json={"name": "  Ada Lovelace "})
    assert renamed.status_code == 200 and renamed.json["user"]["name"] == "Ada Lovelace"


def test_a_page_part_asked_for_after_the_session_ended_sends_the_browser_to_log_in(
        app, db, create_user):
    """htmx follows a redirect and swaps what it finds: the login page would land inside the
    list that asked for its next page. It gets HX-Redirect to the login page instead, which
    leads back to the page the person was on (not the fragment's URL)."""
    user = create_user()
    browser = sign_in(app, user)
    browser.post("/logout", data={"csrf_token": csrf_token(browser, "/dashboard")})
    fragment = browser.get("/qr/?page=2", headers={
        "HX-Request": "true", "HX-Current-URL": "http://localhost/qr/?tag=menu"})
    assert fragment.status_code == 204
    assert fragment.headers["HX-Redirect"] == "/login?next=%2Fqr%2F%3Ftag%3Dmenu"
    whole = browser.get("/qr/?page=2")
    assert whole.status_code == 302 and whole.headers["Location"] == \
        "/login?next=%2Fqr%2F%3Fpage%3D2"
    assert "Log in to see that page." in browser.get("/login").get_data(as_text=True)


def test_a_form_posted_from_a_page_of_an_ended_or_older_session_says_what_to_do(
        app, db, create_user):
    user = create_user()
    stale = sign_in(app, user)
    token = csrf_token(stale, "/qr/bulk")
    # The session ended: to the login page, in place or whole.
    stale.post("/logout", data={"csrf_token": token})
    posted = stale.post("/qr/bulk/check", data={"csrf_token": token}, headers={
        "HX-Request": "true", "HX-Current-URL": "http://localhost/qr/bulk"})
    assert posted.status_code == 204
    assert posted.headers["HX-Redirect"] == "/login?next=%2Fqr%2Fbulk"
    assert "Your session has ended: log in again to carry on." in \
        stale.get("/login").get_data(as_text=True)
    # Logged in again since the page was opened: reload it (Werkzeug's "Bad Request: The
    # CSRF session token is missing." before).
    again = sign_in(app, user)
    refused = again.post("/qr/bulk/check", data={"csrf_token": token})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "This page is out of date" in page and "reload it and try again" in page
    assert "CSRF session token" not in page and "Bad Request" not in page
