"""The /api/v1/qr-codes contract: list, filters, pagination, changes, duplicate, archive,
tenancy, permissions, events, templates, the OpenAPI document."""

import json

from sqlalchemy import select

from qrplatform.auth.models import Membership
from qrplatform.events.models import OutboxEvent


def create(caller, **body):
    body = {"type": "url", "content": {"url": "https://example.com"}, **body}
    response = caller.post("/api/v1/qr-codes", json=body)
    assert response.status_code == 201, response.json
    return response.json


def test_the_resource_carries_the_contract_fields(api):
    code = create(api(), kind="dynamic", name="Poster")
    for name in ("id", "kind", "type", "content", "destination", "short_url", "design",
                 "image_url", "created_at"):
        assert name in code
    assert set(code["image_url"]) == {"png", "svg", "pdf"}
    assert code["design"]["module_style"] == "square"


def test_list_search_filters_and_pagination(api):
    caller = api()
    for i in range(25):
        create(caller, name=f"Table {i}", kind="dynamic" if i % 2 else "static",
               tags=["tables"] if i < 5 else [], content={"url": f"https://menu.example/{i}"})
    create(caller, type="text", content={"text": "hello"}, name="Note")
    first = caller.get("/api/v1/qr-codes?per_page=10").json
    assert first["total"] == 26 and len(first["items"]) == 10
    assert first["items"][0]["name"] == "Note"   # newest first
    third = caller.get("/api/v1/qr-codes?per_page=10&page=3").json
    assert len(third["items"]) == 6
    assert caller.get("/api/v1/qr-codes?q=table 1").json["total"] == 11   # 1, 10-19
    assert caller.get("/api/v1/qr-codes?q=menu.example/7").json["total"] == 1
    assert caller.get("/api/v1/qr-codes?type=text").json["total"] == 1
    assert caller.get("/api/v1/qr-codes?kind=dynamic").json["total"] == 12
    assert caller.get("/api/v1/qr-codes?tag=tables").json["total"] == 5
    bad = caller.get("/api/v1/qr-codes?type=fax")
    assert bad.status_code == 422 and "type" in bad.json["error"]["fields"]


def test_patch_changes_what_it_names_and_keeps_the_short_link(api):
    caller = api()
    code = create(caller, kind="dynamic", tags=["a"])
    url = f"/api/v1/qr-codes/{code['id']}"
    changed = caller.patch(url, json={"design": {"foreground": "#004d40"}, "tags": ["b", "B"],
                                      "name": "Renamed", "redirect_status": 307}).json
    assert changed["design"]["foreground"] == "#004d40"
    assert changed["design"]["module_style"] == "square"   # the rest of the design is kept
    assert changed["tags"] == ["b"] and changed["name"] == "Renamed"
    assert changed["short_url"] == code["short_url"]
    assert changed["image_url"]["png"] != code["image_url"]["png"]   # a new immutable image
    refused = caller.patch(url, json={"kind": "static"})
    assert refused.status_code == 422 and "kind" in refused.json["error"]["fields"]
    low = caller.patch(url, json={"design": {"foreground": "#fafafa"}})
    assert low.status_code == 422
    assert caller.get(url).json["design"]["foreground"] == "#004d40"   # nothing half-saved


def test_duplicate_archive_and_restore(api):
    caller = api()
    code = create(caller, kind="dynamic", tags=["x"])
    copy = caller.post(f"/api/v1/qr-codes/{code['id']}/duplicate").json
    assert copy["id"] != code["id"] and copy["short_code"] != code["short_code"]
    assert copy["destination"] == code["destination"] and copy["tags"] == ["x"]
    assert caller.delete(f"/api/v1/qr-codes/{code['id']}").status_code == 204
    assert caller.get("/api/v1/qr-codes").json["total"] == 1
    assert caller.get("/api/v1/qr-codes?status=archived").json["total"] == 1
    frozen = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"name": "no"})
    assert frozen.status_code == 409
    restored = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"archived": False})
    assert restored.json["state"] == "active"


def test_codes_are_private_to_their_workspace(api):
    mine = create(api())
    other = api()
    assert other.get(f"/api/v1/qr-codes/{mine['id']}").status_code == 404
    assert other.patch(f"/api/v1/qr-codes/{mine['id']}", json={"name": "x"}).status_code == 404
    assert other.get("/api/v1/qr-codes").json["total"] == 0


def test_viewers_see_but_cannot_change(api, create_user, db):
    owner = create_user()
    workspace_id = owner.personal_workspace_id
    viewer = create_user()
    db.session.add(Membership(user_id=viewer.id, workspace_id=workspace_id, role="viewer"))
    db.session.commit()
    code = create(api(owner))
    as_viewer = api(viewer, workspace_id=workspace_id)
    assert as_viewer.get(f"/api/v1/qr-codes/{code['id']}").status_code == 200
    refused = as_viewer.post("/api/v1/qr-codes", json={"type": "text",
                                                       "content": {"text": "x"}})
    assert refused.status_code == 403 and "qr.edit" in refused.json["error"]["message"]


def test_events_are_written_with_the_change(api, db):
    caller = api()
    code = create(caller, kind="dynamic")
    caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"destination": "https://example.com/b"})
    caller.delete(f"/api/v1/qr-codes/{code['id']}")
    rows = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type.like("qr.%"))
                              .order_by(OutboxEvent.created_at)).all()
    events = [json.loads(row.payload) for row in rows]
    assert [e["type"] for e in events] == ["qr.created", "qr.updated", "qr.archived"]
    assert events[1]["data"]["changed"] == ["content"]
    assert {e["data"]["code_id"] for e in events} == {code["id"]}
    assert {e["workspace_id"] for e in events} == {caller.workspace_id}


def test_design_templates(api):
    caller = api()
    saved = caller.post("/api/v1/qr-design-templates", json={
        "name": "Brand", "design": {"foreground": "#b71c1c", "module_style": "rounded"}})
    assert saved.status_code == 201, saved.json
    template_id = saved.json["id"]
    code = create(caller, design_template_id=template_id, design={"frame": "box"})
    assert code["design"]["foreground"] == "#b71c1c" and code["design"]["frame"] == "box"
    assert [t["name"] for t in caller.get("/api/v1/qr-design-templates").json] == ["Brand"]
    bad = caller.post("/api/v1/qr-design-templates", json={
        "name": "Pale", "design": {"foreground": "#eeeeee"}})
    assert bad.status_code == 422
    taken = caller.post("/api/v1/qr-design-templates", json={"name": "Brand", "design": {}})
    assert taken.status_code == 422 and "name" in taken.json["error"]["fields"]


def test_images_come_from_the_cdn_when_configured(make_app, db, create_user):
    from qrplatform.auth import services as auth

    cdn_app = make_app(CDN_BASE_URL="https://cdn.example")
    user = create_user()
    _t, token = auth.create_token(user, user.personal_workspace_id, "t")
    code = cdn_app.test_client().post(
        "/api/v1/qr-codes", headers={"Authorization": f"Bearer {token}"},
        json={"type": "text", "content": {"text": "cdn"}}).json
    assert all(url.startswith("https://cdn.example/c/qr/") for url in code["image_url"].values())


def test_everything_is_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    for path in ("/api/v1/qr-codes", "/api/v1/qr-codes/{code_id}",
                 "/api/v1/qr-codes/{code_id}/duplicate", "/api/v1/qr-codes/{code_id}/image",
                 "/api/v1/qr-codes/logos", "/api/v1/qr-codes/bulk",
                 "/api/v1/qr-design-templates", "/api/v1/qr-design-templates/{template_id}"):
        assert path in spec["paths"], path
        for method, operation in spec["paths"][path].items():
            if method in {"get", "post", "patch", "put", "delete"}:
                assert operation.get("security") == [{"bearerAuth": []}], (method, path)


def test_errors_use_the_one_shape(api):
    response = api().post("/api/v1/qr-codes", json={"type": "url"})
    assert response.status_code == 422
    error = response.json["error"]
    assert set(error) >= {"status", "code", "message", "fields", "request_id"}
    assert error["code"] == "validation_error"
