"""The webhook pages (Settings → Webhooks): the same services as the API, errors beside their
field, the secret shown once, the delivery log with test events and redeliveries."""

from __future__ import annotations

import re

from qrplatform.testing.pytest_plugin import csrf_token

from .conftest import make_code, register, relay

PAGE = "/settings/webhooks"


def form_data(client, path=PAGE, **fields) -> dict:
    return {"csrf_token": csrf_token(client, path), **fields}


def test_add_an_endpoint_in_the_page(client, login, owner, webhook_receiver, local_hooks,
                                     db):
    login(owner_user(db, owner))
    empty = client.get(PAGE).get_data(as_text=True)
    assert "No endpoints yet" in empty and "Add an endpoint" in empty
    assert 'value="qr.*"' in empty and 'value="qr.scanned"' in empty and "in batches" in empty

    refused = client.post(PAGE, data=form_data(client, url="http://10.0.0.1/hooks",
                                               events=["qr.exploded"]))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert re.search(r'id="url-error" class="field-error">10\.0\.0\.1 is not a public address',
                     page)
    assert 'value="http://10.0.0.1/hooks"' in page, "what was typed is kept"

    missing = client.post(PAGE, data=form_data(client, url=webhook_receiver.url))
    assert missing.status_code == 422
    assert 'id="events-error" class="field-error">Choose at least one event type' in \
        missing.get_data(as_text=True)

    added = client.post(PAGE, data=form_data(client, url=webhook_receiver.url,
                                             description="CRM", events=["qr.*", "qr.created"]))
    assert added.status_code == 201
    page = added.get_data(as_text=True)
    secret = re.search(r'data-copy="(whsec_[^"]+)"', page).group(1)
    assert "shown only this once" in page
    [endpoint] = owner.get("/api/v1/webhooks").json
    assert (endpoint["url"], endpoint["events"], endpoint["description"]) == (
        webhook_receiver.url, ["qr.*", "qr.created"], "CRM")
    later = client.get(f"{PAGE}/{endpoint['id']}").get_data(as_text=True)
    assert secret not in later and "whsec_" not in later

    webhook_receiver.secret = secret
    make_code(owner, "From the page")
    relay()
    assert webhook_receiver.received[0].error is None
    listing = client.get(PAGE).get_data(as_text=True)
    assert webhook_receiver.url in listing and "just now" in listing


def owner_user(db, owner):
    from qrplatform.auth.models import User

    return db.session.get(User, owner.user_id)


def test_test_event_log_redeliver_and_settings(client, login, owner, hooked, webhook_receiver,
                                               db):
    login(owner_user(db, owner))
    path = f"{PAGE}/{hooked['id']}"
    sent = client.post(f"{path}/test", data=form_data(client, path))
    assert sent.status_code == 302 and sent.location.endswith(path)
    page = client.get(path).get_data(as_text=True)
    assert "Test event queued" in page
    assert "webhook.test" in page and "Delivered" in page and "HTTP 200" in page

    fragment = client.get(f"{path}?state=delivered", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).startswith('<section id="deliveries"')
    assert "HX-Request" in fragment.headers["Vary"]
    assert "Nothing delivered" not in client.get(f"{path}?state=delivered").get_data(
        as_text=True)
    assert "No failed deliveries" in client.get(f"{path}?state=failed").get_data(as_text=True)

    [delivery] = owner.get(f"/api/v1/webhooks/{hooked['id']}/deliveries").json["items"]
    again = client.post(f"{path}/deliveries/{delivery['id']}/redeliver",
                        data=form_data(client, path))
    assert again.status_code == 302
    detail = client.get(f"{path}/deliveries/{delivery['id']}").get_data(as_text=True)
    assert detail.count("HTTP 200") >= 2 and "redeliver" in detail and "test" in detail
    assert delivery["message_id"] in detail and "&#34;type&#34;: &#34;webhook.test&#34;" in detail

    saved = client.post(path, data=form_data(client, path, url=webhook_receiver.url,
                                             description="Renamed", events=["*"]))
    assert saved.status_code == 302
    assert owner.get(f"/api/v1/webhooks/{hooked['id']}").json["events"] == ["*"]
    client.post(f"{path}/disable", data=form_data(client, path))
    assert "Paused" in client.get(path).get_data(as_text=True)
    client.post(f"{path}/enable", data=form_data(client, path))
    rotated = client.post(f"{path}/secret", data=form_data(client, path)).get_data(as_text=True)
    assert "New secret made" in rotated and re.search(r'data-copy="whsec_', rotated)
    gone = client.post(f"{path}/delete", data=form_data(client, path))
    assert gone.status_code == 302 and gone.location.endswith(PAGE)
    assert client.get(path).status_code == 404


def test_an_answer_is_shown_as_text_never_run(client, login, owner, local_hooks, db,
                                              capture_server):
    capture_server.respond("/hooks", status=500, body="<script>alert('owned')</script>",
                           headers={"Content-Type": "text/html"})
    endpoint = register(owner, capture_server.url + "/hooks")
    make_code(owner)
    relay()
    [delivery] = owner.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").json["items"]
    detail = owner.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}").json
    assert detail["attempt_log"][0]["response_snippet"] == "<script>alert('owned')</script>"
    login(owner_user(db, owner))
    page = client.get(f"{PAGE}/{endpoint['id']}/deliveries/{delivery['id']}").get_data(
        as_text=True)
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    assert "<script>alert" not in page


def test_members_without_the_permission_see_no_webhooks(client, login, owner, add_member, db):
    endpoint = register(owner, "https://1.1.1.1/hooks", events=["webhook.deleted"])
    login(owner_user(db, owner))
    assert f'href="{PAGE}"' in client.get("/dashboard").get_data(as_text=True)
    client.post("/logout", data=form_data(client, "/dashboard"))
    editor = add_member(owner.workspace_id, "editor")
    login(editor)
    client.post("/workspaces/switch", data=form_data(client, "/dashboard",
                                                     workspace_id=owner.workspace_id))
    assert f'href="{PAGE}"' not in client.get("/dashboard").get_data(as_text=True)
    for path in (PAGE, f"{PAGE}/{endpoint['id']}"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "webhooks.view" in refused.get_data(as_text=True)
    assert client.post(f"{PAGE}/{endpoint['id']}/test",
                       data=form_data(client, "/dashboard")).status_code == 403
