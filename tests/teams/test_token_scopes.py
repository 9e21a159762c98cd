"""API tokens carry scopes (everything, read-only, or areas such as one plugin) and show when
they were last used."""

import re

from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token


def token(client, user, **fields):
    response = client.post("/api/v1/auth/tokens", json={
        "email": user.email, "password": DEFAULT_PASSWORD, **fields})
    assert response.status_code == 201, response.json
    return response.json


def bearer(value):
    return {"Authorization": f"Bearer {value}"}


def test_a_read_only_token_reads_and_changes_nothing(client, team):
    read_only = token(client, team.owner, name="dashboard", scopes=["read"])
    assert read_only["scopes"] == ["read"]
    auth = bearer(read_only["token"])
    assert client.get("/api/v1/teams/members", headers=auth).status_code == 200
    refused = client.post("/api/v1/teams/invitations", headers=auth,
                          json={"email": "x@example.com", "role": "viewer"})
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == (
        "This API token's scopes do not include 'teams.manage'.")
    me = client.get("/api/v1/me", headers=auth).json
    assert "teams.manage" not in me["permissions"] and "workspace.view" in me["permissions"]


def test_a_token_for_one_area_acts_only_there(client, team):
    teams_only = bearer(token(client, team.owner, scopes=["teams"])["token"])
    assert client.post("/api/v1/teams/invitations", headers=teams_only, json={
        "email": "y@example.com", "role": "viewer"}).status_code == 201
    refused = client.post("/api/v1/qr-codes", headers=teams_only,
                          json={"type": "url", "destination": "https://example.com/"})
    assert refused.status_code == 403 and "'qr.edit'" in refused.json["error"]["message"]
    audit_only = bearer(token(client, team.owner, scopes=["teams.audit"])["token"])
    assert client.get("/api/v1/teams/audit", headers=audit_only).status_code == 200
    assert client.patch(f"/api/v1/teams/members/{team.viewer.id}", headers=audit_only,
                        json={"role": "admin"}).status_code == 403


def test_unknown_scopes_are_refused_beside_the_field(client, team):
    response = client.post("/api/v1/auth/tokens", json={
        "email": team.owner.email, "password": DEFAULT_PASSWORD, "scopes": ["everything"]})
    assert response.status_code == 422
    [message] = response.json["error"]["fields"]["scopes"]
    assert message.startswith("Unknown scope(s): everything. Use '*', 'read', an area (")
    assert "teams" in message and "qr" in message


def test_scopes_chosen_in_the_page_and_last_use_shown(client, db, login, team):
    login(team.owner)
    page = client.post("/settings/tokens", data={
        "name": "Team bot", "access": "areas", "areas": ["teams"],
        "csrf_token": csrf_token(client, "/settings/tokens")}).get_data(as_text=True)
    plain = re.search(r'value="(qrp_[^"]+)"', page).group(1)
    row = re.search(r"<strong>Team bot</strong></td>.*?</tr>", page, re.S).group(0)
    assert '<td data-label="Access">Team</td>' in row and "never" in row

    nothing_ticked = client.post("/settings/tokens", data={
        "name": "Nothing", "access": "areas", "csrf_token": csrf_token(client,
                                                                      "/settings/tokens")})
    assert 'id="areas-error"' in nothing_ticked.get_data(as_text=True)

    assert client.get("/api/v1/teams/members", headers=bearer(plain)).status_code == 200
    listed = client.get("/api/v1/tokens", headers=bearer(plain)).json
    used = next(t for t in listed if t["name"] == "Team bot")
    assert used["scopes"] == ["teams"] and used["last_used_at"] is not None
    page = client.get("/settings/tokens").get_data(as_text=True)
    row = re.search(r"<strong>Team bot</strong></td>.*?</tr>", page, re.S).group(0)
    assert "never" not in row and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row)
