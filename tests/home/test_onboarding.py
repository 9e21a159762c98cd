"""The onboarding checklist: steps from the enabled plugins, ticked off from real data (or
marked by the plugin that witnesses them), never going backwards, dismissible, the same in the
API as on the page."""

from __future__ import annotations

import re

import pytest

from qrplatform.auth import services as accounts
from qrplatform.testing.pytest_plugin import csrf_token

from .makers import make_code, scan

STEPS = ["qr.first_code", "qr.download", "analytics.first_scan", "teams.invite", "tokens.first"]


def _done(caller) -> dict[str, bool]:
    body = caller.get("/api/v1/me/onboarding").json
    return {step["key"]: step["done"] for step in body["steps"]}


def _page_steps(client) -> dict[str, bool]:
    html = client.get("/dashboard").get_data(as_text=True)
    return {key: "is-done" in classes for classes, key in
            re.findall(r'class="check-item([^"]*)" data-step="([^"]+)"', html)}


@pytest.fixture
def newcomer(create_user, api):
    user = create_user(name="Nia Newcomer")
    return user, api(user)  # the API client's token ticks off "Get an API token"


def test_each_step_ticks_itself_off_as_it_happens(app, client, login, newcomer):
    user, caller = newcomer
    assert _done(caller) == {"qr.first_code": False, "qr.download": False,
                             "analytics.first_scan": False, "teams.invite": False,
                             "tokens.first": True}
    login(user)
    assert list(_page_steps(client)) == STEPS
    code = make_code(caller, name="Menu")
    assert _done(caller)["qr.first_code"]
    assert client.get(f"/qr/{code['id']}/download?format=svg").status_code == 200
    assert _done(caller)["qr.download"]
    scan(client, code)
    app.extensions["qrp.stream"].flush()
    assert _done(caller)["analytics.first_scan"]
    invited = caller.post("/api/v1/teams/invitations", json={"email": "tom@example.com",
                                                             "role": "editor"})
    assert invited.status_code == 201
    body = caller.get("/api/v1/me/onboarding").json
    assert body["complete"] and body["done"] == body["total"] == 5 and not body["visible"]
    # Complete: the home page no longer shows it.
    assert 'id="onboarding"' not in client.get("/dashboard").get_data(as_text=True)


def test_progress_never_goes_backwards(client, create_user, newcomer, db):
    from qrplatform.auth.models import Membership

    _user, caller = newcomer
    teammate = create_user()
    membership = Membership(user_id=teammate.id, workspace_id=caller.workspace_id,
                            role="editor")
    db.session.add(membership)
    db.session.commit()
    assert _done(caller)["teams.invite"]
    db.session.delete(membership)
    db.session.commit()
    assert _done(caller)["teams.invite"]  # seen once, kept


def test_the_scan_step_polls_while_it_waits_and_stops_when_the_scan_arrives(
        app, client, login, newcomer):
    user, caller = newcomer
    code = make_code(caller, name="Poster")
    login(user)
    client.get(f"/qr/{code['id']}/download")
    fragment = client.get("/onboarding", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment  # the list alone, for htmx to swap
    assert 'hx-trigger="every 3s"' in fragment and "Waiting for your first scan" in fragment
    assert code["short_url"] in fragment
    scan(client, code)
    app.extensions["qrp.stream"].flush()
    response = client.get("/onboarding", headers={"HX-Request": "true"})
    assert response.headers["HX-Trigger"] == "onboarding-progress"  # the cards refresh
    fragment = response.get_data(as_text=True)
    assert "hx-trigger" not in fragment and "Waiting" not in fragment
    again = client.get("/onboarding", headers={"HX-Request": "true"})
    assert "HX-Trigger" not in again.headers  # only once
    assert 'data-step="analytics.first_scan"' in fragment and "Done just now." in fragment


def test_dismiss_and_restore_on_the_page(client, login, newcomer):
    user, _caller = newcomer
    login(user)
    assert 'id="onboarding"' in client.get("/dashboard").get_data(as_text=True)
    response = client.post("/onboarding/dismiss",
                           data={"csrf_token": csrf_token(client, "/dashboard")})
    assert response.status_code == 302
    assert 'id="onboarding"' not in client.get("/dashboard").get_data(as_text=True)
    page = client.get("/onboarding").get_data(as_text=True)
    assert "Show it on the home page" in page and 'id="onboarding"' in page
    client.post("/onboarding/restore", data={"csrf_token": csrf_token(client, "/onboarding")})
    assert 'id="onboarding"' in client.get("/dashboard").get_data(as_text=True)


def test_the_api_dismisses_restores_and_marks_what_only_the_app_can_witness(newcomer):
    _user, caller = newcomer
    body = caller.post("/api/v1/me/onboarding/dismiss").json
    assert body["dismissed"] and body["dismissed_at"] and not body["visible"]
    assert caller.get("/api/v1/me/onboarding").json["dismissed"]
    assert not caller.post("/api/v1/me/onboarding/restore").json["dismissed"]
    download = next(s for s in caller.get("/api/v1/me/onboarding").json["steps"]
                    if s["key"] == "qr.download")
    assert download["manual"] and not download["done"]
    marked = caller.post("/api/v1/me/onboarding/done", json={"step": "qr.download"})
    assert marked.status_code == 200
    assert {s["key"]: s["done"] for s in marked.json["steps"]}["qr.download"]
    refused = caller.post("/api/v1/me/onboarding/done", json={"step": "qr.first_code"})
    assert refused.status_code == 422
    assert "cannot be marked" in refused.json["error"]["message"]
    unknown = caller.post("/api/v1/me/onboarding/done", json={"step": "nope.never"})
    assert unknown.status_code == 422 and unknown.json["error"]["fields"]["step"]
    assert caller.post("/api/v1/me/onboarding/done", json={"step": "x" * 101}).status_code \
        == 422


def test_a_read_only_token_reads_but_does_not_dismiss(app, create_user):
    user = create_user()
    _token, plain = accounts.create_token(user, user.personal_workspace_id, "ro", ["read"])
    reader = app.test_client()
    headers = {"Authorization": f"Bearer {plain}"}
    assert reader.get("/api/v1/me/onboarding", headers=headers).status_code == 200
    assert reader.post("/api/v1/me/onboarding/dismiss", headers=headers).status_code == 403


def test_a_viewer_sees_only_steps_their_role_can_do(client, api, create_user, login, db):
    from qrplatform.auth.models import Membership

    owner = api(create_user())
    viewer = create_user()
    db.session.add(Membership(user_id=viewer.id, workspace_id=owner.workspace_id,
                              role="viewer"))
    db.session.commit()
    as_viewer = api(viewer, owner.workspace_id)
    keys = [s["key"] for s in as_viewer.get("/api/v1/me/onboarding").json["steps"]]
    assert keys == ["qr.download", "analytics.first_scan", "tokens.first"]


def test_the_checklist_is_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"/api/v1/me/onboarding", "/api/v1/me/onboarding/dismiss",
            "/api/v1/me/onboarding/restore",
            "/api/v1/me/onboarding/done"} <= set(paths)


def test_progress_is_the_persons_and_reads_only_the_workspace_in_scope(api, create_user, db):
    """What a step reads is the workspace in scope (scoped queries); what was seen done is the
    person's: someone who made a code in one workspace knows how in all of theirs."""
    from qrplatform.auth.models import Membership

    user = create_user()
    own = api(user)
    other_owner = api(create_user())
    db.session.add(Membership(user_id=user.id, workspace_id=other_owner.workspace_id,
                              role="editor"))
    db.session.commit()
    make_code(other_owner, name="Not yours")
    assert not _done(own)["qr.first_code"]  # another workspace's code is not read here
    in_other = api(user, other_owner.workspace_id)
    assert _done(in_other)["qr.first_code"]
    assert _done(own)["qr.first_code"]  # seen done once: the person's progress


def test_two_requests_making_the_row_at_once_both_succeed(app, create_user):
    """The polling list and a download can be the first to write a person's progress at the
    same moment: neither fails."""
    import threading

    from qrplatform import onboarding
    from qrplatform.extensions import db

    user_id = create_user().id
    barrier, errors = threading.Barrier(2), []

    def write(key):
        with app.test_request_context():
            from qrplatform.auth.models import User

            user = db.session.get(User, user_id)
            barrier.wait()
            try:
                onboarding.mark_done(key, user)
            except Exception as error:  # any failure is the finding, reported below
                errors.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=write, args=(key,))
               for key in ("qr.download", "tokens.first")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.test_request_context():
        from qrplatform.auth.models import UserOnboarding

        steps = db.session.get(UserOnboarding, user_id).steps
    assert set(steps) == {"qr.download", "tokens.first"}
