"""Membership: change roles, remove members, leave, transfer ownership; a workspace always
keeps an owner."""

from qrplatform.testing.pytest_plugin import csrf_token
from teams.conftest import role_of


def test_roles_change_and_owners_are_guarded(db, api, team):
    owner = api(team.owner)
    changed = owner.patch(f"/api/v1/teams/members/{team.viewer.id}", json={"role": "editor"})
    assert changed.status_code == 200 and changed.json["role"] == "editor"
    assert role_of(db, team.viewer.id, team.workspace_id) == "editor"

    bad = owner.patch(f"/api/v1/teams/members/{team.viewer.id}", json={"role": "wizard"})
    assert bad.status_code == 422 and "role" in bad.json["error"]["fields"]

    admin = api(team.admin, workspace_id=team.workspace_id)
    for attempt in (admin.patch(f"/api/v1/teams/members/{team.owner.id}",
                                json={"role": "viewer"}),
                    admin.patch(f"/api/v1/teams/members/{team.editor.id}",
                                json={"role": "owner"}),
                    admin.delete(f"/api/v1/teams/members/{team.owner.id}")):
        assert attempt.status_code == 403, attempt.json
        assert attempt.json["error"]["message"].startswith("Only an owner can")
    assert role_of(db, team.owner.id, team.workspace_id) == "owner"


def test_the_last_owner_cannot_leave_be_demoted_or_removed(db, api, team):
    owner = api(team.owner)
    left = owner.post("/api/v1/teams/leave")
    assert left.status_code == 409
    assert left.json["error"]["message"] == (
        "You are the only owner of “Olive Owner's workspace”. Hand ownership to another "
        "member first (Transfer ownership), then leave.")
    demoted = owner.patch(f"/api/v1/teams/members/{team.owner.id}", json={"role": "admin"})
    assert demoted.status_code == 409 and "only owner" in demoted.json["error"]["message"]
    removed = owner.delete(f"/api/v1/teams/members/{team.owner.id}")  # removing yourself
    assert removed.status_code == 409
    assert role_of(db, team.owner.id, team.workspace_id) == "owner"

    # With a second owner, the first may step down.
    owner.patch(f"/api/v1/teams/members/{team.admin.id}", json={"role": "owner"})
    assert owner.post("/api/v1/teams/leave").status_code == 204
    assert role_of(db, team.owner.id, team.workspace_id) is None
    assert owner.get("/api/v1/me").status_code == 401  # the token died with the membership


def test_transfer_ownership(db, api, team, client, login):
    owner = api(team.owner)
    transferred = owner.post("/api/v1/teams/ownership", json={"user_id": team.editor.id})
    assert transferred.status_code == 200 and transferred.json["role"] == "owner"
    assert role_of(db, team.editor.id, team.workspace_id) == "owner"
    assert role_of(db, team.owner.id, team.workspace_id) == "admin"
    again = owner.post("/api/v1/teams/ownership", json={"user_id": team.viewer.id})
    assert again.status_code == 403  # no longer an owner
    assert "teams.transfer" in again.json["error"]["message"]

    login(team.editor)  # the new owner, in the page
    client.post("/workspaces/switch", data={"workspace_id": team.workspace_id,
                                            "csrf_token": csrf_token(client, "/dashboard")})
    response = client.post("/team/ownership", data={
        "user_id": team.owner.id, "csrf_token": csrf_token(client, "/team")})
    assert response.status_code == 302
    assert role_of(db, team.owner.id, team.workspace_id) == "owner"
    assert role_of(db, team.editor.id, team.workspace_id) == "admin"


def test_removing_a_member_revokes_their_tokens(db, api, team):
    viewer = api(team.viewer, workspace_id=team.workspace_id)
    assert viewer.get("/api/v1/teams/members").status_code == 200
    assert api(team.admin, workspace_id=team.workspace_id).delete(
        f"/api/v1/teams/members/{team.viewer.id}").status_code == 204
    assert role_of(db, team.viewer.id, team.workspace_id) is None
    assert viewer.get("/api/v1/teams/members").status_code == 401
    missing = api(team.owner).get(f"/api/v1/teams/members/{team.viewer.id}")
    assert missing.status_code == 404


def test_members_page_changes_roles_and_removes(client, db, login, team):
    login(team.owner)
    page = client.get("/team").get_data(as_text=True)
    for name in ("Olive Owner", "Adam Admin", "Eddie Editor", "Vera Viewer", "Bill Billing"):
        assert name in page
    assert "Send invitation" in page and "Transfer ownership" in page
    changed = client.post(f"/team/members/{team.viewer.id}/role", data={
        f"m{team.viewer.id}-role": "admin", "csrf_token": csrf_token(client, "/team")})
    assert changed.status_code == 302
    assert "Vera Viewer is now admin." in client.get("/team").get_data(as_text=True)
    client.post(f"/team/members/{team.viewer.id}/remove",
                data={"csrf_token": csrf_token(client, "/team")})
    assert role_of(db, team.viewer.id, team.workspace_id) is None
    refused = client.post("/team/leave", data={"csrf_token": csrf_token(client, "/team")})
    assert refused.status_code == 302
    assert "You are the only owner" in client.get("/team").get_data(as_text=True)
    assert client.post("/team/leave").status_code == 400  # no CSRF token


def test_removing_a_member_through_the_core_revokes_their_tokens_there_only(api, create_user,
                                                                           db):
    from qrplatform.auth import services as accounts
    from qrplatform.tenancy import tenant_scope

    owner, member = create_user(), create_user()
    workspace_id = owner.personal_workspace_id
    with tenant_scope(workspace_id):
        accounts.add_member(member, workspace_id, "editor")
        db.session.commit()
    there, home = api(member, workspace_id=workspace_id), api(member)
    assert there.get("/api/v1/me").status_code == 200

    removed = api(owner).delete(f"/api/v1/teams/members/{member.id}")
    assert removed.status_code == 204, removed.json
    assert there.get("/api/v1/me").status_code == 401
    assert home.get("/api/v1/me").status_code == 200  # their own workspace's token lives on
