"""The webhooks API: registering endpoints (checked URL, declared event types, the secret
shown once), the plan's quota, who may see and manage them, and another workspace's."""

from __future__ import annotations

from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, set_plan

from .conftest import make_code, register, relay


def test_register_an_endpoint_and_get_its_secret_once(owner, local_hooks, webhook_receiver):
    response = owner.post("/api/v1/webhooks", json={
        "url": webhook_receiver.url, "events": ["qr.*", "webhook.deleted"],
        "description": "CRM sync"})
    assert response.status_code == 201, response.json
    created = response.json
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert (created["url"], created["events"], created["description"], created["enabled"]) == (
        webhook_receiver.url, ["qr.*", "webhook.deleted"], "CRM sync", True)
    shown = owner.get(f"/api/v1/webhooks/{created['id']}").json
    listed = owner.get("/api/v1/webhooks").json
    assert "secret" not in shown and all("secret" not in e for e in listed)
    assert [e["id"] for e in listed] == [created["id"]]

    changed = owner.patch(f"/api/v1/webhooks/{created['id']}", json={
        "events": ["*"], "description": "Everything"})
    assert (changed.json["events"], changed.json["description"]) == (["*"], "Everything")
    refused = owner.patch(f"/api/v1/webhooks/{created['id']}", json={
        "url": "http://10.1.2.3/hooks"})
    assert refused.status_code == 422 and "10.1.2.3 is not a public address" in refused.json[
        "error"]["fields"]["url"][0]
    paused = owner.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": False}).json
    assert (paused["enabled"], paused["disabled_reason"]) == (False, "manual")

    assert owner.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert owner.get(f"/api/v1/webhooks/{created['id']}").status_code == 404


def test_event_types_are_the_declared_ones(owner, local_hooks, webhook_receiver):
    catalogue = {t["name"]: t for t in owner.get("/api/v1/webhooks/event-types").json}
    assert {"qr.created", "qr.scanned", "teams.member_removed", "webhook.disabled",
            "workspace.updated"} <= set(catalogue)
    assert catalogue["qr.scanned"]["batched"] is True
    assert catalogue["qr.created"]["batched"] is False
    assert catalogue["qr.created"]["owner"] == "qr" and catalogue["webhook.created"]["owner"] \
        == "core"

    for events, message in [
        (["qr.exploded"], "Unknown event type(s): qr.exploded."),
        (["nothing.*"], "Unknown event type(s): nothing.*."),
        (["qr.*x"], "Unknown event type(s): qr.*x."),
        ([], "Length must be between 1 and 100."),
        ([" "], "Choose at least one event type"),
    ]:
        response = owner.post("/api/v1/webhooks", json={"url": webhook_receiver.url,
                                                        "events": events})
        assert response.status_code == 422, events
        assert response.json["error"]["fields"]["events"][0].startswith(message), (
            events, response.json)
    assert register(owner, webhook_receiver.url, events=["*"])["events"] == ["*"]


def test_urls_are_checked_when_registered(app, owner, monkeypatch):
    for url, message in [
        ("ftp://example.com/hooks", "Use an http:// or https:// URL."),
        ("https://user:pw@1.1.1.1/hooks", "Put no user name or password in the URL"),
        ("http://169.254.169.254/latest", "169.254.169.254 is not a public address"),
        ("http://localhost:5000/hooks", "localhost resolves to"),
        ("https://no-such-host.invalid/hooks", "no-such-host.invalid does not resolve"),
    ]:
        response = owner.post("/api/v1/webhooks", json={"url": url, "events": ["qr.*"]})
        assert response.status_code == 422, url
        assert response.json["error"]["fields"]["url"][0].startswith(message), url
    monkeypatch.setitem(app.config, "QRP_NETGUARD_REQUIRE_HTTPS", True)
    response = owner.post("/api/v1/webhooks", json={"url": "http://1.1.1.1/hooks",
                                                    "events": ["qr.*"]})
    assert response.json["error"]["fields"]["url"] == [
        "Use an https:// URL: plain http is refused here."]
    assert register(owner, "https://1.1.1.1/hooks", events=["webhook.deleted"])["id"]


def test_the_plan_limits_the_endpoints(owner, db):
    for n in range(2):
        register(owner, f"https://1.1.1.1/hooks/{n}", events=["webhook.deleted"])
    refused = owner.post("/api/v1/webhooks", json={"url": "https://1.1.1.1/hooks/3",
                                                   "events": ["webhook.deleted"]})
    assert refused.status_code == 402
    assert refused.json["error"]["message"].startswith(
        "Your Free plan allows 2 webhook endpoints; you have 2. Remove some first, or upgrade: "
        "the Pro plan allows 10.")
    set_plan(owner.workspace_id, "pro")
    assert register(owner, "https://1.1.1.1/hooks/3", events=["webhook.deleted"])


def test_only_owners_and_admins_see_and_manage_webhooks(api, client, owner, add_member):
    endpoint = register(owner, "https://1.1.1.1/hooks", events=["webhook.deleted"])
    admin = api(add_member(owner.workspace_id, "admin"), workspace_id=owner.workspace_id)
    assert admin.post(f"/api/v1/webhooks/{endpoint['id']}/secret").status_code == 201
    for role in ("editor", "viewer", "billing"):
        member = api(add_member(owner.workspace_id, role), workspace_id=owner.workspace_id)
        refused = member.get("/api/v1/webhooks")
        assert refused.status_code == 403, role
        assert "lacks the permission 'webhooks.view'" in refused.json["error"]["message"]
        assert member.patch(f"/api/v1/webhooks/{endpoint['id']}",
                            json={"enabled": False}).status_code == 403

    user = owner_user(owner)
    token = client.post("/api/v1/auth/tokens", json={
        "email": user.email, "password": DEFAULT_PASSWORD, "scopes": ["read"]}).json["token"]
    read_only = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/webhooks", headers=read_only).status_code == 200
    assert client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries",
                      headers=read_only).status_code == 200
    for method, path in [("post", "/api/v1/webhooks"),
                         ("post", f"/api/v1/webhooks/{endpoint['id']}/test"),
                         ("post", f"/api/v1/webhooks/{endpoint['id']}/secret"),
                         ("delete", f"/api/v1/webhooks/{endpoint['id']}")]:
        refused = getattr(client, method)(path, headers=read_only, json={
            "url": "https://1.1.1.1/x", "events": ["qr.*"]})
        assert refused.status_code == 403, path
        assert refused.json["error"]["message"] == (
            "This API token's scopes do not include 'webhooks.manage'.")


def owner_user(owner):
    from qrplatform.auth.models import User
    from qrplatform.extensions import db

    return db.session.get(User, owner.user_id)


def test_another_workspace_reaches_no_endpoint_nor_delivery(
        api, owner, hooked, webhook_receiver):
    make_code(owner)
    relay()
    [delivery] = owner.get(f"/api/v1/webhooks/{hooked['id']}/deliveries").json["items"]
    intruder = api()
    own = register(intruder, "https://1.1.1.1/theirs", events=["webhook.deleted"])
    for path in [f"/api/v1/webhooks/{hooked['id']}",
                 f"/api/v1/webhooks/{hooked['id']}/deliveries",
                 f"/api/v1/webhooks/{hooked['id']}/deliveries/{delivery['id']}",
                 f"/api/v1/webhooks/{own['id']}/deliveries/{delivery['id']}"]:
        assert intruder.get(path).status_code == 404, path
    for path in [f"/api/v1/webhooks/{own['id']}/deliveries/{delivery['id']}/redeliver",
                 f"/api/v1/webhooks/{hooked['id']}/deliveries/{delivery['id']}/redeliver",
                 f"/api/v1/webhooks/{hooked['id']}/test"]:
        assert intruder.post(path).status_code == 404, path
    assert len(webhook_receiver.received) == 1


def test_changes_to_endpoints_are_audited(owner, db):
    from teams.conftest import audit_entries

    endpoint = register(owner, "https://1.1.1.1/hooks?token=s3cret", events=["webhook.*"])
    owner.post(f"/api/v1/webhooks/{endpoint['id']}/secret")
    owner.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": False})
    owner.delete(f"/api/v1/webhooks/{endpoint['id']}")
    entries = audit_entries(db, owner.workspace_id)
    types = [e.event_type for e in entries if e.event_type.startswith("webhook.")]
    assert sorted(types) == ["webhook.created", "webhook.deleted", "webhook.disabled",
                             "webhook.secret_rotated"]
    audit = owner.get("/api/v1/teams/audit?type=webhook.").json
    assert audit["total"] == 4 and all(item["actor_user_id"] == owner.user_id
                                       for item in audit["items"])
    assert "s3cret" not in str(audit), "the URL's query (often a token) stays out of the log"
