"""The audit log: an entry for each action, fed from the event bus, with the actor and the
request id; searchable and filterable; exported as CSV."""

import csv
import io

from qrplatform.testing.pytest_plugin import csrf_token
from teams.conftest import audit_entries, invitation_path, mails_to, turn_on_totp


def test_each_action_leaves_an_entry_with_actor_and_request_id(app, client, db, api, team):
    turn_on_totp(app, team.owner)  # to require two-step sign-in, have it yourself
    owner = api(team.owner)

    def call(method, path, request_id, **kwargs):
        response = owner._call(method, path, headers={"X-Request-ID": request_id}, **kwargs)
        assert response.status_code < 300, response.json
        return response

    invitation = call("POST", "/api/v1/teams/invitations", "req-invite-0001",
                      json={"email": "new@example.com", "role": "viewer"}).json
    call("POST", f"/api/v1/teams/invitations/{invitation['id']}/resend", "req-resend-0001")
    other = call("POST", "/api/v1/teams/invitations", "req-invite-0002",
                 json={"email": "other@example.com", "role": "viewer"}).json
    call("DELETE", f"/api/v1/teams/invitations/{other['id']}", "req-revoke-0001")
    call("PATCH", f"/api/v1/teams/members/{team.viewer.id}", "req-role-00001",
         json={"role": "editor"})
    call("DELETE", f"/api/v1/teams/members/{team.billing.id}", "req-remove-0001")
    call("PATCH", "/api/v1/teams/security", "req-secure-0001", json={"require_two_factor": True})
    call("PATCH", "/api/v1/teams/security", "req-secure-0002",
         json={"require_two_factor": False})
    call("POST", "/api/v1/teams/ownership", "req-owner-00001", json={"user_id": team.admin.id})
    admin = api(team.admin, workspace_id=team.workspace_id)  # token.created, by Adam
    admin._call("DELETE", "/api/v1/teams/members/4", headers={"X-Request-ID": "req-admin-0001"})
    api(team.editor, workspace_id=team.workspace_id)._call(
        "POST", "/api/v1/teams/leave", headers={"X-Request-ID": "req-leave-00001"})
    link = invitation_path(mails_to(db, "new@example.com")[-1])
    client.post(f"{link}/signup", headers={"X-Request-ID": "req-accept-0001"}, data={
        "name": "Nina New", "email": "new@example.com", "password": "long enough password",
        "csrf_token": csrf_token(client, link)})

    olive = "Olive Owner <olive@example.com> via API token"
    log = audit_entries(db, team.workspace_id)
    entries = {e.request_id: e for e in log if e.request_id}
    expected = {
        "req-invite-0001": ("teams.invitation_sent", olive, "invited new@example.com as viewer"),
        "req-resend-0001": ("teams.invitation_resent", olive,
                            "sent the invitation to new@example.com again"),
        "req-revoke-0001": ("teams.invitation_revoked", olive,
                            "withdrew the invitation to other@example.com"),
        "req-role-00001": ("teams.member_role_changed", olive,
                           "changed Vera Viewer's role from viewer to editor"),
        "req-remove-0001": ("teams.member_removed", olive,
                            "removed Bill Billing <bill@example.com> (billing)"),
        "req-secure-0001": ("teams.two_factor_required", olive,
                            "required two-step sign-in for every member"),
        "req-secure-0002": ("teams.two_factor_optional", olive,
                            "stopped requiring two-step sign-in"),
        "req-owner-00001": ("teams.ownership_transferred", olive,
                            "handed ownership to Adam Admin <adam@example.com>"),
        "req-admin-0001": ("teams.member_removed", "Adam Admin <adam@example.com> via API token",
                           "removed Vera Viewer <vera@example.com> (editor)"),
        "req-leave-00001": ("teams.member_left", "Eddie Editor <eddie@example.com> via API token",
                            "left the workspace"),
        "req-accept-0001": ("teams.invitation_accepted", "Nina New <new@example.com>",
                            "joined as viewer (invited as new@example.com)"),
    }
    for request_id, (event_type, actor, summary) in expected.items():
        entry = entries[request_id]
        assert (entry.event_type, entry.summary) == (event_type, summary), request_id
        assert entry.actor_label.startswith(actor), (request_id, entry.actor_label)
        assert entry.actor_user_id is not None and entry.occurred_at is not None
    assert entries["req-invite-0001"].actor_user_id == team.owner.id
    assert entries["req-invite-0001"].actor_token_id is not None
    # Made outside any request (the api() fixture), so with no request id.
    created_tokens = [e for e in log if e.event_type == "token.created"]
    assert len(created_tokens) == 3  # one per api() client above, with its scopes
    assert created_tokens[0].summary == "created the API token “tests” (*)"
    assert [e.summary for e in log if e.event_type == "teams.two_factor_enabled"] == [
        "turned on two-step sign-in (authenticator app)"]

    # The event bus delivers at least once: a redelivered event adds no second entry.
    from qrplatform.events import Event
    from qrplatform.events.dispatch import deliver

    count = len(log)
    assert deliver(Event(type="teams.member_left", data={}, workspace_id=team.workspace_id,
                         id=entries["req-leave-00001"].event_id), "teams") is False
    assert len(audit_entries(db, team.workspace_id)) == count


def test_the_log_is_searchable_filterable_and_exported(client, db, api, team, login):
    owner = api(team.owner)
    owner.post("/api/v1/teams/invitations", json={"email": "zed@example.com", "role": "viewer"})
    owner.patch(f"/api/v1/teams/members/{team.viewer.id}", json={"role": "editor"})
    api(team.admin, workspace_id=team.workspace_id).patch(
        f"/api/v1/teams/members/{team.editor.id}", json={"role": "viewer"})
    audit_entries(db, team.workspace_id)  # relay the events

    found = owner.get("/api/v1/teams/audit?q=zed@").json
    assert [e["summary"] for e in found["items"]] == ["invited zed@example.com as viewer"]
    by_type = owner.get("/api/v1/teams/audit?type=teams.member_role_changed").json
    assert by_type["total"] == 2
    by_area = owner.get("/api/v1/teams/audit?type=teams.").json
    assert by_area["total"] == 3
    by_actor = owner.get(f"/api/v1/teams/audit?type=teams.&actor_id={team.admin.id}").json
    assert [e["summary"] for e in by_actor["items"]] == [
        "changed Eddie Editor's role from editor to viewer"]
    assert owner.get("/api/v1/teams/audit?until=2000-01-01").json["total"] == 0
    viewer = api(team.viewer, workspace_id=team.workspace_id)
    refused = viewer.get("/api/v1/teams/audit")
    assert refused.status_code == 403 and "teams.audit" in refused.json["error"]["message"]

    login(team.owner)
    page = client.get("/team/audit?q=zed").get_data(as_text=True)
    assert "invited zed@example.com as viewer" in page and "changed Eddie" not in page
    fragment = client.get("/team/audit?type=teams.member_role_changed",
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.startswith('<section id="audit-results"')
    assert fragment.count("changed ") == 2 and "<html" not in fragment

    export = client.get(f"/team/audit.csv?type=teams.&actor={team.owner.id}")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [r["summary"] for r in rows] == ["invited zed@example.com as viewer",
                                            "changed Vera Viewer's role from viewer to editor"]
    assert rows[0]["actor"].startswith("Olive Owner <olive@example.com>")
    assert rows[0]["request_id"] and rows[0]["event_type"] == "teams.invitation_sent"
    assert '"email": "zed@example.com"' in rows[0]["data"]
    # The same file through the API, for an app or a script (no browser session).
    exported = owner.get(f"/api/v1/teams/audit/export?type=teams.&actor_id={team.owner.id}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert export.headers["Content-Disposition"].startswith(
        f'attachment; filename="audit-{team.workspace_id}-')
    assert list(csv.DictReader(io.StringIO(exported.get_data(as_text=True)))) == rows
    assert viewer.get("/api/v1/teams/audit/export").status_code == 403


def test_each_workspace_sees_only_its_own_log(db, api, team, create_user):
    stranger = api(create_user(email="stranger@example.com"))
    api(team.owner).post("/api/v1/teams/invitations", json={"email": "x@example.com",
                                                            "role": "viewer"})
    audit_entries(db, team.workspace_id)
    summaries = [e["summary"] for e in stranger.get("/api/v1/teams/audit").json["items"]]
    assert "invited x@example.com as viewer" not in summaries
    assert "signed up" in summaries  # their own sign-up is in their own log
