"""Invitations: e-mailed by the notify job with a signed link that works once and expires;
accepted by signing up or logging in; resent, revoked; seats limited by the plan."""

import time
from datetime import UTC, datetime

from itsdangerous import TimestampSigner
from sqlalchemy import select

from qrp_teams import services
from qrplatform.auth.models import Membership, User
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token
from teams.conftest import invitation_path, mails_to, role_of, set_plan


def invite(api_client, email, role="editor"):
    response = api_client.post("/api/v1/teams/invitations", json={"email": email, "role": role})
    assert response.status_code == 201, response.json
    return response.json


def test_invitation_email_link_signs_up_a_new_person_once(client, db, api, team):
    owner = api(team.owner)
    invitation = invite(owner, "Newcomer@Example.com", "editor")
    assert invitation["email"] == "newcomer@example.com" and not invitation["expired"]

    [mail] = mails_to(db, "newcomer@example.com")
    assert mail.status == "sent"  # delivered by the job (log backend in tests)
    assert mail.subject == "Olive Owner invited you to “Olive Owner's workspace” on QR Platform"
    assert "as editor" in mail.body_text
    link = invitation_path(mail)

    page = client.get(link)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Join “Olive Owner&#39;s workspace”" in text and 'value="newcomer@example.com"' in text

    joined = client.post(f"{link}/signup", data={
        "name": "Nina New", "email": "newcomer@example.com", "password": DEFAULT_PASSWORD,
        "csrf_token": csrf_token(client, link)})
    assert joined.status_code == 302 and joined.headers["Location"] == "/dashboard"
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "Olive Owner&#39;s workspace" in dashboard and "you are editor" in dashboard
    nina = db.session.scalar(select(User).where(User.email == "newcomer@example.com"))
    assert role_of(db, nina.id, team.workspace_id) == "editor"

    again = client.get(link)
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    assert owner.get("/api/v1/teams/invitations").json == []  # no longer waiting


def test_an_existing_account_logs_in_then_accepts(client, db, api, team, create_user):
    lee = create_user(email="lee@example.com", name="Lee")
    invite(api(team.owner), "lee@example.com", "viewer")
    link = invitation_path(mails_to(db, "lee@example.com")[0])

    page = client.get(link).get_data(as_text=True)
    login_url = f"/login?next={link}"
    assert "Log in to accept" in page
    logged_in = client.post(login_url, data={"email": "lee@example.com",
                                             "password": DEFAULT_PASSWORD,
                                             "csrf_token": csrf_token(client)})
    assert logged_in.headers["Location"] == link
    assert "Accept and join" in client.get(link).get_data(as_text=True)
    accepted = client.post(f"{link}/accept", data={"csrf_token": csrf_token(client, link)})
    assert accepted.status_code == 302
    assert role_of(db, lee.id, team.workspace_id) == "viewer"
    assert "already been used" in client.post(
        f"{link}/accept", data={"csrf_token": csrf_token(client, "/dashboard")}
    ).get_data(as_text=True)


def test_the_mobile_app_accepts_through_the_api(db, api, team, create_user):
    lee = create_user(email="lee@example.com", name="Lee")
    invite(api(team.owner), "lee@example.com", "viewer")
    token = invitation_path(mails_to(db, "lee@example.com")[0]).rsplit("/", 1)[-1]
    app_client = api(lee)  # a token of Lee's own workspace
    joined = app_client.post("/api/v1/teams/invitations/accept", json={"token": token})
    assert joined.status_code == 201, joined.json
    assert joined.json == {"id": team.workspace_id, "name": "Olive Owner's workspace",
                           "role": "viewer"}
    assert role_of(db, lee.id, team.workspace_id) == "viewer"
    spent = app_client.post("/api/v1/teams/invitations/accept", json={"token": token})
    assert spent.status_code == 410 and "already been used" in spent.json["error"]["message"]
    forged = app_client.post("/api/v1/teams/invitations/accept", json={"token": "nope"})
    assert forged.status_code == 400 and forged.json["error"]["code"] == "bad_request"


def test_an_expired_link_is_refused_with_a_clear_page_and_a_resend_works(
        client, db, api, team, monkeypatch):
    owner = api(team.owner)
    eight_days_ago = int(time.time()) - 8 * 86400
    with monkeypatch.context() as frozen:  # sent and signed as if a week and a day ago
        frozen.setattr(TimestampSigner, "get_timestamp", lambda self: eight_days_ago)
        frozen.setattr(services, "_now", lambda: datetime.fromtimestamp(eight_days_ago, UTC))
        invitation = invite(owner, "late@example.com")
    old_link = invitation_path(mails_to(db, "late@example.com")[0])

    expired = client.get(old_link)
    assert expired.status_code == 410
    text = expired.get_data(as_text=True)
    assert "This invitation has expired. Ask Olive Owner to send a new one." in text
    assert "Sign up and join" not in text
    [listed] = owner.get("/api/v1/teams/invitations").json
    assert listed["expired"] is True  # the seat is free again; it can be resent

    resent = owner.post(f"/api/v1/teams/invitations/{invitation['id']}/resend")
    assert resent.status_code == 200 and resent.json["send_count"] == 2
    new_mail = mails_to(db, "late@example.com")[-1]
    new_link = invitation_path(new_mail)
    assert new_link != old_link and client.get(new_link).status_code == 200
    assert client.get(old_link).status_code == 410


def test_a_resend_replaces_the_old_link_and_a_revoke_kills_it(client, db, api, team):
    owner = api(team.owner)
    invitation = invite(owner, "twice@example.com")
    first = invitation_path(mails_to(db, "twice@example.com")[0])
    owner.post(f"/api/v1/teams/invitations/{invitation['id']}/resend")
    second = invitation_path(mails_to(db, "twice@example.com")[1])
    replaced = client.get(first)
    assert replaced.status_code == 410
    assert "newer invitation" in replaced.get_data(as_text=True)

    assert owner.delete(f"/api/v1/teams/invitations/{invitation['id']}").status_code == 204
    withdrawn = client.get(second)
    assert withdrawn.status_code == 410
    assert "withdrawn" in withdrawn.get_data(as_text=True)
    gone = owner.post(f"/api/v1/teams/invitations/{invitation['id']}/resend")
    assert gone.status_code == 409 and "withdrawn" in gone.json["error"]["message"]


def test_a_tampered_link_is_refused(client, db, api, team):
    invite(api(team.owner), "tamper@example.com")
    link = invitation_path(mails_to(db, "tamper@example.com")[0])
    response = client.get(link[:-3] + "abc")
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)


def test_seats_are_limited_by_the_plan(client, db, api, create_user, login):
    ann = create_user(email="ann@example.com", name="Ann")  # Free plan: three seats
    owner = api(ann)
    invite(owner, "one@example.com")
    invite(owner, "two@example.com")
    full = owner.post("/api/v1/teams/invitations", json={"email": "three@example.com",
                                                         "role": "viewer"})
    assert full.status_code == 402
    assert full.json["error"]["code"] == "quota_exceeded"
    assert full.json["error"]["message"] == (
        "Your Free plan allows 3 seats (members and pending invitations); you have 3. "
        "Remove some first, or upgrade: the Pro plan allows 10. Change the plan at "
        "http://localhost/billing")

    login(ann)  # the page says the same above the form
    page = client.post("/team/invitations", data={
        "email": "three@example.com", "role": "viewer",
        "csrf_token": csrf_token(client, "/team")})
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert "Your Free plan allows 3 seats" in text
    # The way out is a link on the page, not an address to copy.
    assert 'the Pro plan allows 10. <a href="http://localhost/billing">See the plans</a>.' in text
    assert "Change the plan at" not in text
    assert "3 of 3 seats used" in client.get("/team").get_data(as_text=True)
    set_plan(db, ann.personal_workspace_id, "business")  # no seat limit
    assert "3 seats used, no limit on this plan" in client.get("/team").get_data(as_text=True)
    set_plan(db, ann.personal_workspace_id, "free")

    two = next(i for i in owner.get("/api/v1/teams/invitations").json
               if i["email"] == "two@example.com")
    owner.delete(f"/api/v1/teams/invitations/{two['id']}")  # withdrawing frees the seat
    invite(owner, "three@example.com")
    set_plan(db, ann.personal_workspace_id, "business")  # unlimited
    invite(owner, "four@example.com")


def test_accepting_is_refused_when_the_plan_filled_up_meanwhile(client, db, api, create_user):
    ann = create_user(email="ann@example.com", name="Ann")
    set_plan(db, ann.personal_workspace_id, "pro")
    owner = api(ann)
    for n in range(3):
        invite(owner, f"guest{n}@example.com")
    set_plan(db, ann.personal_workspace_id, "free")  # downgraded: three seats for four
    link = invitation_path(mails_to(db, "guest0@example.com")[0])
    response = client.post(f"{link}/signup", data={
        "name": "Guest", "email": "guest0@example.com", "password": DEFAULT_PASSWORD,
        "csrf_token": csrf_token(client, link)})
    assert response.status_code == 302  # the account is made, joining is not
    flashed = client.get("/dashboard").get_data(as_text=True)
    assert "joining failed: Your Free plan allows 3 seats" in flashed
    assert db.session.scalar(select(Membership).where(
        Membership.workspace_id == ann.personal_workspace_id,
        Membership.role != "owner")) is None


def test_duplicates_and_members_are_refused_beside_the_field(client, db, api, team, login):
    owner = api(team.owner)
    invite(owner, "dup@example.com")
    again = owner.post("/api/v1/teams/invitations", json={"email": "dup@example.com",
                                                          "role": "viewer"})
    assert again.status_code == 409
    assert again.json["error"]["fields"] == {
        "email": ["dup@example.com is already invited; resend that invitation instead."]}
    member = owner.post("/api/v1/teams/invitations", json={"email": "vera@example.com",
                                                           "role": "viewer"})
    assert member.status_code == 409 and "already a member" in member.json["error"]["message"]

    login(team.owner)
    page = client.post("/team/invitations", data={
        "email": "vera@example.com", "role": "viewer",
        "csrf_token": csrf_token(client, "/team")}).get_data(as_text=True)
    assert 'id="email-error"' in page and "already a member" in page


def test_only_an_owner_invites_another_owner(api, team):
    admin = api(team.admin, workspace_id=team.workspace_id)
    refused = admin.post("/api/v1/teams/invitations", json={"email": "boss@example.com",
                                                           "role": "owner"})
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == "Only an owner can invite another owner."
    assert admin.post("/api/v1/teams/invitations", json={
        "email": "helper@example.com", "role": "admin"}).status_code == 201
