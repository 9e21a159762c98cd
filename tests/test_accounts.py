"""Sign up, log in and out, CSRF, password reset, API tokens and workspaces — as a user does."""

import re
from datetime import timedelta

from sqlalchemy import select

from qrplatform.auth.models import ApiToken, User
from qrplatform.events.models import OutboxEvent
from qrplatform.notify import Notification
from qrplatform.tenancy import unscoped
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token


def signup_form(client, **fields):
    data = {"name": "Ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_token(client, "/signup"), **fields}
    return client.post("/signup", data=data)


def test_signup_form_creates_account_and_personal_workspace(client, db):
    response = signup_form(client)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Ada&#39;s workspace" in page and "you are owner" in page
    user = db.session.scalar(select(User))
    assert user.password_hash.startswith("$argon2id$")  # never the password itself


def test_signup_errors_show_next_to_the_field_and_create_nothing(client, db, create_user):
    create_user(email="taken@example.com")
    response = signup_form(client, email="taken@example.com", password="short")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="password-error"[^>]*>Use 10 to 200 characters\.', page)
    duplicate = signup_form(client, email="taken@example.com")
    assert 'id="email-error"' in duplicate.get_data(as_text=True)
    assert "already exists" in duplicate.get_data(as_text=True)
    assert db.session.query(User).count() == 1


def test_an_empty_signup_says_what_to_enter_beside_each_field(client, db):
    page = signup_form(client, name="", email="", password="").get_data(as_text=True)
    for field, words in (("name", "Enter your name."), ("email", "Enter your e-mail address."),
                         ("password", "Choose a password.")):
        assert re.search(rf'id="{field}-error"[^>]*>{re.escape(words)}', page), field
    page = signup_form(client, email="ada.example.com").get_data(as_text=True)
    assert re.search(r'id="email-error"[^>]*>Enter an e-mail address such as ann@example\.com',
                     page)
    assert "This field is required" not in page
    assert db.session.query(User).count() == 0


def test_forms_without_a_csrf_token_are_refused(client, db, create_user):
    refused = client.post("/signup", data={"name": "Eve", "email": "eve@example.com",
                                           "password": DEFAULT_PASSWORD})
    assert refused.status_code == 400
    assert "This page is out of date" in refused.get_data(as_text=True)
    assert db.session.query(User).count() == 0
    user = create_user()
    forged = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                         "csrf_token": "forged"})
    assert forged.status_code == 400


def test_login_logout(client, create_user):
    user = create_user()
    wrong = client.post("/login", data={"email": user.email, "password": "wrong password",
                                        "csrf_token": csrf_token(client)})
    assert wrong.status_code == 422
    assert "E-mail or password is wrong." in wrong.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302  # still anonymous

    ok = client.post("/login?next=/settings/tokens",
                     data={"email": user.email.upper(), "password": DEFAULT_PASSWORD,
                           "csrf_token": csrf_token(client)})
    assert ok.headers["Location"] == "/settings/tokens"
    assert client.get("/dashboard").status_code == 200

    token = csrf_token(client, "/dashboard")
    assert client.get("/logout").status_code == 405  # logging out takes a POST with CSRF
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_login_refuses_offsite_next(client, create_user):
    user = create_user()
    response = client.post("/login?next=//evil.example/x",
                           data={"email": user.email, "password": DEFAULT_PASSWORD,
                                 "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/dashboard"


def test_password_reset_by_email(client, db, create_user):
    user = create_user(email="forgetful@example.com")
    response = client.post("/forgot-password", data={
        "email": "forgetful@example.com", "csrf_token": csrf_token(client, "/forgot-password")})
    assert response.status_code == 302
    with unscoped():
        mail = db.session.scalar(select(Notification))
    assert mail.recipient == "forgetful@example.com" and mail.status == "sent"  # log backend
    link = re.search(r"http://localhost(/reset-password/\S+)", mail.body_text).group(1)
    assert link in mail.body_html

    new_password = "a brand new password"
    reset = client.post(link, data={"password": new_password, "confirm": new_password,
                                    "csrf_token": csrf_token(client, link)})
    assert reset.status_code == 302
    # A used link says so before anything is typed, and leads to a new one.
    again = client.get(link)
    assert again.status_code == 410
    page = again.get_data(as_text=True)
    assert "This reset link has already been used." in page and 'href="/forgot-password"' in page
    assert 'name="password"' not in page
    assert client.post(link, data={"password": "yet another pass", "confirm": "yet another pass",
                                   "csrf_token": csrf_token(client, "/forgot-password")}
                       ).status_code == 410
    login = client.post("/login", data={"email": user.email, "password": new_password,
                                        "csrf_token": csrf_token(client)})
    assert login.status_code == 302


def test_a_broken_or_expired_reset_link_says_so_before_the_form(client, db, create_user,
                                                                 monkeypatch):
    from qrplatform.auth import services

    broken = client.get("/reset-password/not-a-token")
    assert broken.status_code == 400
    assert "This reset link is not valid." in broken.get_data(as_text=True)
    user = create_user(email="late@example.com")
    client.post("/forgot-password", data={
        "email": user.email, "csrf_token": csrf_token(client, "/forgot-password")})
    with unscoped():
        mail = db.session.scalar(select(Notification))
    link = re.search(r"http://localhost(/reset-password/\S+)", mail.body_text).group(1)
    monkeypatch.setattr(services, "RESET_MAX_AGE", timedelta(seconds=-1))
    expired = client.get(link)
    assert expired.status_code == 410
    assert "This reset link has expired. Ask for a new one." in expired.get_data(as_text=True)


def test_the_app_resets_a_forgotten_password_through_the_api(client, db, create_user):
    """The mobile app has no browser session: asking for the link and setting the password
    with its token are API operations too, answering the same whether the account exists."""
    user = create_user(email="app-user@example.com")
    asked = client.post("/api/v1/auth/password-reset", json={"email": "App-User@example.com"})
    nobody = client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.com"})
    assert asked.status_code == nobody.status_code == 202
    assert asked.get_data() == nobody.get_data()
    with unscoped():
        [mail] = db.session.scalars(select(Notification)).all()
    assert mail.recipient == user.email
    token = re.search(r"/reset-password/(\S+)", mail.body_text).group(1)

    def confirm(token, password="a brand new password"):
        return client.post("/api/v1/auth/password-reset/confirm",
                           json={"token": token, "new_password": password})

    forged = confirm("not-a-token").json["error"]
    assert (forged["status"], forged["message"]) == (400, "This reset link is not valid.")
    short = confirm(token, "short").json["error"]
    assert short["status"] == 422 and "new_password" in short["fields"]
    assert confirm(token).status_code == 204
    used = confirm(token).json["error"]
    assert (used["status"], used["code"]) == (410, "gone")
    exchanged = client.post("/api/v1/auth/tokens", json={"email": user.email,
                                                        "password": "a brand new password"})
    assert exchanged.status_code == 201
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"/api/v1/auth/password-reset", "/api/v1/auth/password-reset/confirm"} <= set(paths)


def test_the_app_makes_a_workspace_and_a_token_for_it(client, db, api, create_user):
    user = create_user(email="maker@example.com")
    caller = api(user)
    made = caller.post("/api/v1/workspaces", json={"name": "  Spring campaign "})
    assert made.status_code == 201
    assert (made.json["name"], made.json["role"], made.json["plan"], made.json["personal"]) \
        == ("Spring campaign", "owner", "free", False)
    assert made.json["id"] in [w["id"] for w in caller.get("/api/v1/me").json["workspaces"]]
    token = client.post("/api/v1/auth/tokens", json={
        "email": user.email, "password": DEFAULT_PASSWORD, "workspace_id": made.json["id"]})
    assert token.status_code == 201
    blank = caller.post("/api/v1/workspaces", json={"name": "   "}).json["error"]
    assert blank["status"] == 422 and blank["fields"] == {"name": ["Give the workspace a name."]}
    narrow = client.post("/api/v1/auth/tokens", json={
        "email": user.email, "password": DEFAULT_PASSWORD, "scopes": ["read"]}).json["token"]
    assert client.post("/api/v1/workspaces", json={"name": "Another"}, headers={
        "Authorization": f"Bearer {narrow}"}).status_code == 403


def test_unknown_email_reset_says_the_same_and_sends_nothing(client, db):
    response = client.post("/forgot-password", data={
        "email": "nobody@example.com", "csrf_token": csrf_token(client, "/forgot-password")})
    assert response.status_code == 302
    with unscoped():
        assert db.session.query(Notification).count() == 0


def test_api_token_created_in_the_ui_is_shown_once_stored_hashed_and_revocable(
        client, db, create_user, login):
    user = create_user()
    login(user)
    page = client.post("/settings/tokens", data={
        "name": "iPhone", "csrf_token": csrf_token(client, "/settings/tokens")})
    plain = re.search(r'value="(qrp_[^"]+)"', page.get_data(as_text=True)).group(1)
    with unscoped():
        stored = db.session.scalar(select(ApiToken))
    assert stored.token_hash != plain and plain not in stored.prefix + stored.token_hash
    listing = client.get("/settings/tokens").get_data(as_text=True)
    assert plain not in listing and stored.prefix in listing  # shown once, then only a prefix

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert me.status_code == 200 and me.json["user"]["email"] == user.email
    client.post(f"/settings/tokens/{stored.id}/revoke",
                data={"csrf_token": csrf_token(client, "/settings/tokens")})
    refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "unauthorized"


def test_tokens_through_the_api(client, create_user):
    user = create_user(email="api@example.com")
    wrong = client.post("/api/v1/auth/tokens", json={"email": "api@example.com",
                                                     "password": "nope nope nope"})
    assert wrong.status_code == 401 and wrong.json["error"]["message"] == \
        "E-mail or password is wrong."
    created = client.post("/api/v1/auth/tokens", json={
        "email": "api@example.com", "password": DEFAULT_PASSWORD, "name": "CLI"})
    assert created.status_code == 201
    token = created.json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/tokens", headers=auth).json
    assert [t["name"] for t in listed] == ["CLI"] and "token" not in listed[0]
    assert client.get("/api/v1/me", headers=auth).json["workspace"]["id"] == \
        user.personal_workspace_id
    assert client.delete(f"/api/v1/tokens/{created.json['id']}", headers=auth).status_code == 204
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_token_for_a_workspace_you_do_not_belong_to_is_refused(client, create_user):
    create_user(email="a@example.com")
    other = create_user(email="b@example.com")
    response = client.post("/api/v1/auth/tokens", json={
        "email": "a@example.com", "password": DEFAULT_PASSWORD,
        "workspace_id": other.personal_workspace_id})
    assert response.status_code == 403
    assert response.json["error"]["fields"] == {
        "workspace_id": ["You are not a member of this workspace."]}


def test_workspaces_and_the_switcher(client, db, create_user, login):
    user = create_user(name="Max")
    stranger = create_user()
    login(user)
    created = client.post("/workspaces/new", data={
        "name": "Client A", "csrf_token": csrf_token(client, "/workspaces/new")})
    assert created.status_code == 302
    page = client.get("/dashboard").get_data(as_text=True)
    assert "<h1>Client A</h1>" in page
    assert "Max&#39;s workspace <small>Owner</small>" in page  # the switcher lists both

    personal = user.personal_workspace_id
    client.post("/workspaces/switch", data={"workspace_id": personal,
                                            "csrf_token": csrf_token(client, "/dashboard")})
    assert "<h1>Max&#39;s workspace</h1>" in client.get("/dashboard").get_data(as_text=True)

    foreign = client.post("/workspaces/switch", data={
        "workspace_id": stranger.personal_workspace_id,
        "csrf_token": csrf_token(client, "/dashboard")})
    assert foreign.status_code == 302
    assert "<h1>Max&#39;s workspace</h1>" in client.get("/dashboard").get_data(as_text=True)


def test_api_signup_validation_uses_the_one_error_shape(client, db):
    response = client.post("/api/v1/auth/signup", json={"email": "not-an-email", "name": ""})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error" and error["status"] == 422
    assert set(error["fields"]) == {"email", "password", "name"}
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_workspace_settings_page_and_api(client, db, create_user, login, api):
    from qrplatform.auth.models import Workspace

    owner = create_user(name="Wes")
    login(owner)
    page = client.get("/settings/workspace")
    assert page.status_code == 200 and 'checked' in page.get_data(as_text=True)  # sharing on
    assert page.get_data(as_text=True).count("Which features are used") == 1  # said once
    blank = client.post("/settings/workspace", data={
        "name": "", "csrf_token": csrf_token(client, "/settings/workspace")})
    assert blank.status_code == 422 and 'id="name-error"' in blank.get_data(as_text=True)
    saved = client.post("/settings/workspace", data={
        "name": "Wes & Co", "csrf_token": csrf_token(client, "/settings/workspace")})
    assert saved.status_code == 302
    workspace = db.session.get(Workspace, owner.personal_workspace_id)
    db.session.refresh(workspace)
    assert (workspace.name, workspace.analytics_opt_out) == ("Wes & Co", True)

    caller = api(owner)
    changed = caller.patch("/api/v1/workspace", json={"analytics_opt_out": False})
    assert changed.status_code == 200
    assert changed.json["analytics_opt_out"] is False and changed.json["name"] == "Wes & Co"
    assert caller.patch("/api/v1/workspace", json={"name": ""}).status_code == 422
    with unscoped():
        assert db.session.query(OutboxEvent).filter_by(type="workspace.updated").count() == 2
