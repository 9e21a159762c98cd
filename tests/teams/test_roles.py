"""Roles: a viewer cannot change anything through the API — every mutating operation in the
OpenAPI document is tried — and an editor cannot manage members, sign-in rules or billing."""

import io
import re

import pytest
from PIL import Image
from test_cross_tenant import MAKERS, Owner

from qrplatform import permissions
from qrplatform.auth.models import ROLES
from qrplatform.registry import registry
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, builtin_plugins, csrf_token
from teams.makers import TEAMS_MAKERS

MUTATING = {"post", "put", "patch", "delete"}

# Open to anyone: they act before there is a member to check.
PUBLIC = {
    ("post", "/api/v1/auth/signup"): "creates an account",
    ("post", "/api/v1/auth/tokens"): "trades an e-mail and password for a token",
    ("post", "/api/v1/auth/password-reset"): "e-mails a reset link to a forgotten password",
    ("post", "/api/v1/auth/password-reset/confirm"): "sets a password with an e-mailed link",
}
# Act only on the caller's own account, never on the workspace's data.
SELF_SERVICE = {
    ("delete", "/api/v1/tokens/{token_id}"): "revokes one of the caller's own tokens",
    ("post", "/api/v1/teams/leave"): "the caller leaves the workspace",
    ("post", "/api/v1/teams/invitations/accept"): "the caller joins another workspace by link",
    ("patch", "/api/v1/me"): "the caller renames themselves",
    ("post", "/api/v1/workspaces"): "the caller makes a workspace of their own",
    ("post", "/api/v1/me/password"): "the caller changes their own password",
    ("post", "/api/v1/me/onboarding/dismiss"): "the caller puts their own checklist away",
    ("post", "/api/v1/me/onboarding/restore"): "the caller shows their own checklist again",
    ("post", "/api/v1/me/onboarding/done"): "the caller ticks off a step of their own",
    **{("post", f"/api/v1/me/two-step{step}"): "the caller's own two-step sign-in"
       for step in ("/app", "/app/confirm", "/phone", "/phone/confirm", "/recovery-codes",
                    "/disable")},
}
# POSTs that change nothing (their input is too large for a query string): viewers may.
READ_ONLY = {
    ("post", "/api/v1/qr-codes/test-scan"): "which rule a described scan would match",
    ("post", "/api/v1/qr-codes/{code_id}/test-scan"): "which rule a described scan would match",
}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buffer, "PNG")
    return buffer.getvalue()


# Routes that parse their body before checking the permission (so an empty body would be
# refused with 422 before the check is reached): a valid request for each.
VALID_REQUESTS = {
    ("post", "/api/v1/qr-codes"): lambda: {
        "json": {"type": "url", "destination": "https://example.com/"}},
    ("post", "/api/v1/qr-codes/logos"): lambda: {
        "data": {"file": (io.BytesIO(_png()), "logo.png")},
        "content_type": "multipart/form-data"},
    ("post", "/api/v1/qr-codes/bulk"): lambda: {
        "data": {"file": (io.BytesIO(b"name,url\nA,https://example.com/\n"), "codes.csv")},
        "content_type": "multipart/form-data"},
    ("post", "/api/v1/qr-design-templates"): lambda: {
        "json": {"name": "Brand", "design": {}}},
    ("put", "/api/v1/analytics/alert-rules"): lambda: {"json": {"rules": []}},
    ("post", "/api/v1/analytics/exports"): lambda: {"json": {"kind": "scans"}},
    ("post", "/api/v1/domains"): lambda: {"json": {"name": "links.example.org"}},
}
REFUSAL = re.compile(r"lacks the permission '([\w.]+)'")
ALL_MAKERS = {**MAKERS, **TEAMS_MAKERS}


def mutating_operations(app):
    spec = app.test_client().get("/api/openapi.json").json
    for path, operations in spec["paths"].items():
        for method in operations:
            if method in MUTATING:
                yield method, path


@pytest.fixture
def owner_and_viewer(api, team):
    owner = Owner(api(team.owner), team.owner, DEFAULT_PASSWORD)
    viewer = api(team.viewer, workspace_id=team.workspace_id)
    return owner, viewer


def test_the_exceptions_are_still_routes(app):
    operations = set(mutating_operations(app))
    stale = [op for op in [*PUBLIC, *SELF_SERVICE, *READ_ONLY, *VALID_REQUESTS]
             if op not in operations]
    assert not stale, f"no longer in the API, remove from the lists: {stale}"


def test_a_viewer_cannot_change_anything(app, owner_and_viewer):
    owner, viewer = owner_and_viewer
    problems, tried = [], 0
    for method, path in mutating_operations(app):
        if (method, path) in PUBLIC or (method, path) in SELF_SERVICE or (
                method, path) in READ_ONLY:
            continue
        url = path
        for name in re.findall(r"{(\w+)}", path):
            template = next((t for t in ALL_MAKERS if path.startswith(t)), None)
            # With no maker, a made-up id: the route must refuse before it looks anything up.
            resource = ALL_MAKERS[template](owner) if template else "999999"
            url = url.replace("{" + name + "}", resource)
        request = VALID_REQUESTS.get((method, path), lambda: {"json": {}})()
        response = viewer._call(method.upper(), url, **request)
        tried += 1
        body = response.get_json(silent=True) or {}
        message = (body.get("error") or {}).get("message", "")
        named = REFUSAL.search(message)
        if response.status_code != 403 or not named:
            hint = ("refused on its input: the viewer passed the permission check, or the "
                    "route reads its input first — check the permission first "
                    "(permission_required above @blp.arguments) or add a valid request to "
                    "VALID_REQUESTS" if response.status_code == 422 else
                    "no resource to act on: add a maker to MAKERS" if response.status_code
                    == 404 else "a viewer got through")
            problems.append(f"{method.upper()} {path}: {response.status_code} {message!r} "
                            f"({hint})")
            continue
        with app.test_request_context():
            assert not permissions.role_allows("viewer", named.group(1)), (path, message)
    assert not problems, "\n".join(problems)
    assert tried >= 10  # the core's, the qr plugin's and the teams plugin's operations


def test_an_editor_cannot_manage_members_or_sign_in_rules(api, team):
    editor = api(team.editor, workspace_id=team.workspace_id)
    invitation_id = editor.post("/api/v1/teams/invitations",
                                json={"email": "x@example.com", "role": "viewer"})
    attempts = {
        "teams.manage": [
            invitation_id,
            editor.patch(f"/api/v1/teams/members/{team.viewer.id}", json={"role": "admin"}),
            editor.delete(f"/api/v1/teams/members/{team.viewer.id}"),
        ],
        "teams.security": [editor.patch("/api/v1/teams/security",
                                        json={"require_two_factor": True})],
        "teams.transfer": [editor.post("/api/v1/teams/ownership",
                                       json={"user_id": team.editor.id})],
    }
    for permission, responses in attempts.items():
        for response in responses:
            assert response.status_code == 403, response.json
            assert response.json["error"]["code"] == "permission_denied"
            assert f"lacks the permission '{permission}'" in response.json["error"]["message"]
    roles = {m["user_id"]: m["role"] for m in editor.get("/api/v1/teams/members").json}
    assert roles[team.viewer.id] == "viewer"  # nothing changed


def test_the_billing_plugin_lets_owners_and_billing_members_manage_billing(
        app, api, team, make_app):
    with app.app_context():
        allowed = {role for role in ROLES if permissions.role_allows(role, "billing.manage")}
    assert allowed == {"owner", "billing"}
    assert "billing.manage" in api(team.owner, workspace_id=team.workspace_id).get(
        "/api/v1/me").json["permissions"]
    # Without the billing plugin the core knows no billing permission.
    bare = make_app(QRP_PLUGINS=[name for name in builtin_plugins() if name != "billing"])
    with bare.app_context():
        assert "billing.manage" not in registry().permissions


def test_the_billing_role_manages_the_plan_only(api, team):
    def granted(user):
        return set(api(user, workspace_id=team.workspace_id).get("/api/v1/me").json[
            "permissions"])

    billing = granted(team.billing)
    assert "teams.manage" not in billing and "qr.edit" not in billing  # the plan only
    assert {"teams.manage", "teams.audit"} <= granted(team.admin)
    assert "teams.transfer" not in granted(team.admin)


def test_pages_hide_what_the_role_cannot_do(client, login, team):
    login(team.editor)
    client.post("/workspaces/switch", data={
        "workspace_id": team.workspace_id,
        "csrf_token": csrf_token(client, "/dashboard")})
    page = client.get("/team").get_data(as_text=True)
    assert "Vera Viewer" in page
    assert "Send invitation" not in page and "Remove" not in page
    assert "Audit log" not in page and "Transfer ownership" not in page
    assert client.get("/team/audit").status_code == 403
    refused = client.post(f"/team/members/{team.viewer.id}/remove", data={
        "csrf_token": csrf_token(client, "/team")})
    assert refused.status_code == 403
    assert "teams.manage" in refused.get_data(as_text=True)


SCOPE_REFUSAL = re.compile(r"This API token's scopes do not include '([\w.*]+)'")


@pytest.mark.parametrize("scopes", [["read"], ["qr"]])
def test_a_narrow_token_cannot_change_what_its_scopes_leave_out(app, client, team, scopes):
    """Every mutating operation with a read-only token, and the account-level ones (the
    caller's tokens, leaving, joining) with a token for one area: 403, scopes named."""
    owner = Owner(app and _api_for(client, team.owner), team.owner, DEFAULT_PASSWORD)
    narrow = _token(client, team.owner, scopes)
    problems, tried = [], 0
    for method, path in mutating_operations(app):
        if (method, path) in PUBLIC or (method, path) in READ_ONLY:
            continue
        if scopes != ["read"] and (method, path) not in SELF_SERVICE:
            continue
        url = path
        for name in re.findall(r"{(\w+)}", path):
            template = next((t for t in ALL_MAKERS if path.startswith(t)), None)
            resource = ALL_MAKERS[template](owner) if template else "999999"
            url = url.replace("{" + name + "}", resource)
        request = VALID_REQUESTS.get((method, path), lambda: {"json": {}})()
        response = client.open(url, method=method.upper(), **request,
                               headers={"Authorization": f"Bearer {narrow}"})
        tried += 1
        message = ((response.get_json(silent=True) or {}).get("error") or {}).get("message", "")
        if response.status_code != 403 or not SCOPE_REFUSAL.search(message):
            problems.append(f"{method.upper()} {path}: {response.status_code} {message!r}")
    assert not problems, "\n".join(problems)
    assert tried >= (10 if scopes == ["read"] else len(SELF_SERVICE))


def _token(client, user, scopes) -> str:
    response = client.post("/api/v1/auth/tokens", json={
        "email": user.email, "password": DEFAULT_PASSWORD, "scopes": scopes})
    assert response.status_code == 201, response.json
    return response.json["token"]


def _api_for(client, user):
    from qrplatform.testing.pytest_plugin import ApiClient

    return ApiClient(client, _token(client, user, ["*"]), user.id, user.personal_workspace_id)
