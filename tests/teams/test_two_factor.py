"""Two-step sign-in: an authenticator app (real TOTP codes from pyotp), single-use recovery
codes kept hashed, SMS codes through the real twilio client to a local endpoint, and a
workspace that requires it of its members."""

import base64
import io
import re
import time

import pyotp
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from qrp_teams.models import RecoveryCode, SecondFactor
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token
from teams.conftest import turn_on_totp

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def password_step(client, user, next_path=""):
    return client.post(f"/login{next_path}", data={
        "email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf_token(client)})


def code_step(client, code):
    return client.post("/login/two-step", data={
        "code": code, "csrf_token": csrf_token(client, "/login/two-step")})


def later_code(secret: str, steps: int = 1) -> str:
    """The code the app shows ``steps`` periods from now (accepted for clock drift): a
    fresh code without waiting 30 seconds."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def test_enrol_an_authenticator_app_then_sign_in_with_it(client, db, create_user, login):
    user = create_user(email="tia@example.com", name="Tia")
    login(user)
    start = client.post("/settings/two-step/app",
                        data={"csrf_token": csrf_token(client, "/settings/two-step")})
    assert start.status_code == 302
    page = client.get("/settings/two-step").get_data(as_text=True)
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1))
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    assert decoded.text == pyotp.TOTP(secret).provisioning_uri(name="tia@example.com",
                                                                issuer_name="QR Platform")
    stored_seed = db.session.scalar(select(SecondFactor.totp_secret))
    assert secret not in stored_seed  # encrypted at rest (qrplatform.encryption)

    wrong = client.post("/settings/two-step/app/confirm", data={
        "code": "000000", "csrf_token": csrf_token(client, "/settings/two-step")})
    assert wrong.status_code == 422
    assert re.search(r'id="code-error"[^>]*>That code is not right', wrong.get_data(as_text=True))
    done = client.post("/settings/two-step/app/confirm", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(client, "/settings/two-step")})
    assert done.status_code == 200
    codes = re.findall(r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>",
                       done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & set(stored)

    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    asked = password_step(client, user, "?next=/settings/tokens")
    assert asked.headers["Location"] == "/login/two-step"
    assert client.get("/dashboard").status_code == 302  # not signed in yet
    refused = code_step(client, "123456")
    assert refused.status_code == 422
    assert 'id="code-error"' in refused.get_data(as_text=True)
    code = later_code(secret)
    signed_in = code_step(client, code)
    assert signed_in.headers["Location"] == "/settings/tokens"
    assert client.get("/dashboard").status_code == 200

    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    password_step(client, user)
    assert code_step(client, code).status_code == 422  # a code works once
    assert code_step(client, codes[0].upper()).status_code == 302  # recovery code
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    password_step(client, user)
    assert code_step(client, codes[0]).status_code == 422  # ... once


def test_wrong_codes_lock_the_second_step(app, client, db, create_user):
    user = create_user()
    secret = turn_on_totp(app, user)
    password_step(client, user)
    for _ in range(5):
        assert code_step(client, "999999").status_code == 422
    locked = code_step(client, later_code(secret))
    assert locked.status_code == 422
    assert "Too many wrong codes. Try again in 5 minute(s)." in locked.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_the_second_step_needs_a_password_step_first(client, db):
    response = client.get("/login/two-step")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_api_tokens_need_the_second_factor_too(app, client, db, create_user):
    user = create_user(email="api2fa@example.com")
    secret = turn_on_totp(app, user)
    body = {"email": "api2fa@example.com", "password": DEFAULT_PASSWORD}
    missing = client.post("/api/v1/auth/tokens", json=body)
    assert missing.status_code == 401
    assert missing.json["error"]["code"] == "second_factor_required"
    assert "second_factor" in missing.json["error"]["fields"]
    wrong = client.post("/api/v1/auth/tokens", json={**body, "second_factor": "111111"})
    assert wrong.status_code == 401 and wrong.json["error"]["message"] == "That code is not right."
    created = client.post("/api/v1/auth/tokens", json={**body, "second_factor": later_code(secret)})
    assert created.status_code == 201 and created.json["token"].startswith("qrp_")


def test_turning_it_off_needs_the_password(app, client, db, create_user, login):
    user = create_user()
    secret = turn_on_totp(app, user)
    password_step(client, user)
    assert code_step(client, later_code(secret)).status_code == 302
    page = "/settings/two-step"
    wrong = client.post("/settings/two-step/disable", data={
        "disable-password": "not my password", "csrf_token": csrf_token(client, page)})
    assert wrong.status_code == 422
    assert re.search(r'id="disable-password-error"[^>]*>That is not your password',
                     wrong.get_data(as_text=True))
    off = client.post("/settings/two-step/disable", data={
        "disable-password": DEFAULT_PASSWORD, "csrf_token": csrf_token(client, page)})
    assert off.status_code == 302
    assert db.session.get(SecondFactor, user.id) is None
    assert db.session.scalars(select(RecoveryCode)).all() == []
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert password_step(client, user).headers["Location"] == "/dashboard"


def test_a_workspace_can_require_it(app, client, db, api, team, login):
    owner = api(team.owner)
    refused = owner.patch("/api/v1/teams/security", json={"require_two_factor": True})
    assert refused.status_code == 409 and "for yourself first" in refused.json["error"]["message"]
    turn_on_totp(app, team.owner)
    assert owner.patch("/api/v1/teams/security",
                       json={"require_two_factor": True}).status_code == 200

    editor_api = api(team.editor, workspace_id=team.workspace_id)
    blocked = editor_api.get("/api/v1/teams/members")
    assert blocked.status_code == 403
    assert blocked.json["error"]["code"] == "two_factor_required"
    token_request = client.post("/api/v1/auth/tokens", json={
        "email": team.editor.email, "password": DEFAULT_PASSWORD,
        "workspace_id": team.workspace_id})
    assert token_request.status_code == 403
    assert token_request.json["error"]["code"] == "two_factor_required"

    login(team.editor)
    client.post("/workspaces/switch", data={"workspace_id": team.workspace_id,
                                            "csrf_token": csrf_token(client, "/team")})
    sent_away = client.get("/dashboard")
    assert sent_away.status_code == 302 and sent_away.headers["Location"] == "/settings/two-step"
    page = client.get("/settings/two-step").get_data(as_text=True)
    assert "requires two-step sign-in" in page
    # turned on from this browser, as a person does: this session stays, others end
    client.post("/settings/two-step/app",
                data={"csrf_token": csrf_token(client, "/settings/two-step")})
    page = client.get("/settings/two-step").get_data(as_text=True)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    client.post("/settings/two-step/app/confirm", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(client, "/settings/two-step")})
    assert client.get("/dashboard").status_code == 200
    assert editor_api.get("/api/v1/teams/members").status_code == 200


def test_the_core_signs_in_without_the_teams_plugin(make_app, app, db, create_user):
    user = create_user()
    turn_on_totp(app, user)
    bare = make_app(QRP_PLUGINS=["qr"]).test_client()
    response = password_step(bare, user)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"


@pytest.fixture
def twilio_app(make_app, capture_server, db):
    capture_server.respond(MESSAGES, status=201, body={"sid": "SM0001", "status": "queued"})
    return make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN="twilio-auth-token",
                    TWILIO_FROM_NUMBER="+15550001111", TWILIO_API_BASE=capture_server.url)


def texted_code(capture_server, to: str) -> str:
    sent = capture_server.requests_to(MESSAGES)[-1].form()
    assert sent["To"] == to and sent["From"] == "+15550001111"
    return re.search(r"Your QR Platform code is (\d{6})\.", sent["Body"]).group(1)


def test_sms_codes_through_twilio(twilio_app, capture_server, db, create_user):
    user = create_user(email="sam@example.com")
    client = twilio_app.test_client()
    password_step(client, user)
    page = "/settings/two-step"
    bad = client.post("/settings/two-step/phone", data={
        "phone": "07700 900123", "csrf_token": csrf_token(client, page)})
    assert bad.status_code == 422
    assert re.search(r'id="phone-error"[^>]*>Give the number in international form',
                     bad.get_data(as_text=True))
    client.post("/settings/two-step/phone", data={
        "phone": "+44 7700 900123", "csrf_token": csrf_token(client, page)})
    code = texted_code(capture_server, "+447700900123")
    assert capture_server.requests_to(MESSAGES)[-1].authorization.username == ACCOUNT_SID
    done = client.post("/settings/two-step/phone/confirm", data={
        "phone-code": code, "csrf_token": csrf_token(client, page)})
    assert done.status_code == 200 and "Your recovery codes" in done.get_data(as_text=True)

    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert password_step(client, user).headers["Location"] == "/login/two-step"
    step = client.get("/login/two-step").get_data(as_text=True)
    assert "Text a code to •••• 0123" in step
    client.post("/login/two-step/sms", data={"csrf_token": csrf_token(client, "/login/two-step")})
    assert len(capture_server.requests_to(MESSAGES)) == 2
    login_code = texted_code(capture_server, "+447700900123")
    too_soon = client.post("/login/two-step/sms",
                           data={"csrf_token": csrf_token(client, "/login/two-step")})
    assert too_soon.status_code == 302 and len(capture_server.requests_to(MESSAGES)) == 2
    assert code_step(client, login_code).status_code == 302
    assert client.get("/dashboard").status_code == 200


def test_the_app_sets_up_and_turns_off_two_step_sign_in_through_the_api(
        app, client, db, api, create_user):
    """What /settings/two-step does, for the mobile app: set up an authenticator app, get the
    recovery codes once, renew them, turn it off with the password; a narrow token may not."""
    user = create_user(email="mobile2fa@example.com")
    caller = api(user)
    state = caller.get("/api/v1/me/two-step").json
    assert (state["enabled"], state["app"], state["recovery_codes_left"]) == (False, False, 0)

    started = caller.post("/api/v1/me/two-step/app")
    assert started.status_code == 201
    secret = started.json["secret"]
    assert started.json["otpauth_url"].startswith("otpauth://totp/") and secret in \
        started.json["otpauth_url"]
    assert caller.get("/api/v1/me/two-step").json["app_pending"] is True
    wrong = caller.post("/api/v1/me/two-step/app/confirm", json={"code": "000000"})
    assert wrong.status_code == 422 and "code" in wrong.json["error"]["fields"]
    confirmed = caller.post("/api/v1/me/two-step/app/confirm", json={"code": later_code(secret)})
    assert confirmed.status_code == 200
    codes = confirmed.json["recovery_codes"]
    assert len(codes) >= 8 and len(set(codes)) == len(codes)
    state = caller.get("/api/v1/me/two-step").json
    assert (state["enabled"], state["app"], state["app_pending"]) == (True, True, False)
    assert state["recovery_codes_left"] == len(codes)
    # From now on a new token needs the second step.
    body = {"email": user.email, "password": DEFAULT_PASSWORD}
    assert client.post("/api/v1/auth/tokens", json=body).status_code == 401

    renewed = caller.post("/api/v1/me/two-step/recovery-codes",
                          json={"password": DEFAULT_PASSWORD}).json["recovery_codes"]
    assert not set(renewed) & set(codes)
    narrow = client.post("/api/v1/auth/tokens", json={
        **body, "second_factor": renewed[0], "scopes": ["read"]}).json["token"]
    refused = client.post("/api/v1/me/two-step/disable", json={"password": DEFAULT_PASSWORD},
                          headers={"Authorization": f"Bearer {narrow}"})
    assert refused.status_code == 403
    not_mine = caller.post("/api/v1/me/two-step/disable", json={"password": "not my password"})
    assert not_mine.status_code == 422 and "password" in not_mine.json["error"]["fields"]
    assert caller.post("/api/v1/me/two-step/disable",
                       json={"password": DEFAULT_PASSWORD}).status_code == 204
    assert db.session.get(SecondFactor, user.id) is None
    assert client.post("/api/v1/auth/tokens", json=body).status_code == 201


def test_sms_codes_through_the_api(twilio_app, capture_server, db, create_user):
    from qrplatform.auth import services as auth

    user = create_user(email="sms-api@example.com")
    _token, plain = auth.create_token(user, user.personal_workspace_id, "phone")
    client = twilio_app.test_client()
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/me/two-step", headers=headers).json["sms_available"] is True
    sent = client.post("/api/v1/me/two-step/phone", json={"phone": "+44 7700 900123"},
                       headers=headers)
    assert sent.status_code == 202
    code = texted_code(capture_server, "+447700900123")
    assert client.get("/api/v1/me/two-step", headers=headers).json["phone_pending"] is True
    done = client.post("/api/v1/me/two-step/phone/confirm", json={"code": code}, headers=headers)
    assert done.status_code == 200 and done.json["recovery_codes"]
    state = client.get("/api/v1/me/two-step", headers=headers).json
    assert (state["enabled"], state["phone"]) == (True, "•••• 0123")
    # Asking for a token without the second step texts a sign-in code (an app has no
    # "text me a code" page), at most one per half minute.
    body = {"email": user.email, "password": DEFAULT_PASSWORD}
    asked = client.post("/api/v1/auth/tokens", json=body)
    assert asked.status_code == 401
    assert "send 'second_factor' with the code we texted to •••• 0123" in \
        asked.json["error"]["message"]
    login_code = texted_code(capture_server, "+447700900123")
    again = client.post("/api/v1/auth/tokens", json=body)
    assert "the code we texted to your phone" in again.json["error"]["message"]
    assert len(capture_server.requests_to(MESSAGES)) == 2
    token = client.post("/api/v1/auth/tokens", json={**body, "second_factor": login_code})
    assert token.status_code == 201


def test_a_workspace_rule_says_how_an_app_sets_two_step_up(app, client, db, api, team):
    """The app of a member whose workspace starts requiring two-step sign-in is told how to
    set it up, and may, through the API: with its token from before the rule, or with a token
    of the member's personal workspace."""
    turn_on_totp(app, team.owner)
    assert api(team.owner).patch("/api/v1/teams/security",
                                 json={"require_two_factor": True}).status_code == 200
    editor_api = api(team.editor, workspace_id=team.workspace_id)
    blocked = editor_api.get("/api/v1/teams/members").json["error"]
    assert "POST /api/v1/me/two-step/app" in blocked["message"]
    refused = client.post("/api/v1/auth/tokens", json={
        "email": team.editor.email, "password": DEFAULT_PASSWORD,
        "workspace_id": team.workspace_id}).json["error"]
    assert "Ask for a token of your personal workspace" in refused["message"]

    assert editor_api.get("/api/v1/me/two-step").json["required_here"] is True
    secret = editor_api.post("/api/v1/me/two-step/app").json["secret"]
    assert editor_api.post("/api/v1/me/two-step/app/confirm",
                           json={"code": later_code(secret)}).status_code == 200
    assert editor_api.get("/api/v1/teams/members").status_code == 200
