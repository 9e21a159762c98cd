"""The microsites builder's pages as a signed-in person uses them (the HTTP side; the drag,
the preview frame and the phone width are in test_builder_in_browser.py). Every change is
read back through the API: the page and the API share the services."""

from __future__ import annotations

import re

import pytest

from qrp_microsites import starters
from qrplatform.testing.pytest_plugin import csrf_token, set_plan
from tests.microsites.makers import PAGE

HX = {"HX-Request": "true"}


@pytest.fixture
def person(client, create_user, login, api):
    """A signed-in owner (Business plan: custom CSS) and an API client of the same workspace."""
    user = create_user()
    login(user)
    owner = api(user)
    set_plan(owner.workspace_id, "business")
    token = csrf_token(client, "/microsites/new")
    return {"user": user, "api": owner, "token": token,
            "hx": {**HX, "X-CSRFToken": token}}


def _site(person, blocks=PAGE, **extra) -> dict:
    response = person["api"].post("/api/v1/microsites", json={"name": "Café", "blocks": blocks,
                                                              **extra})
    assert response.status_code == 201, response.json
    return response.json


def _blocks(person, site_id) -> list[dict]:
    return person["api"].get(f"/api/v1/microsites/{site_id}").json["blocks"]


def test_list_empty_state_then_a_page_from_each_starter(client, person):
    listing = client.get("/microsites/").get_data(as_text=True)
    assert "No microsites yet" in listing and 'href="/microsites/new"' in listing

    new_page = client.get("/microsites/new").get_data(as_text=True)
    for starter in starters.STARTERS.values():
        assert starter.label in new_page

    refused = client.post("/microsites/new", data={"csrf_token": person["token"], "name": "",
                                                   "starter": "event"})
    assert refused.status_code == 422
    assert 'id="name-error"' in refused.get_data(as_text=True)

    for key, starter in starters.STARTERS.items():
        created = client.post("/microsites/new", data={"csrf_token": person["token"],
                                                       "name": f"From {key}", "starter": key})
        assert created.status_code == 302, created.get_data(as_text=True)[:1500]
        site_id = int(re.search(r"/microsites/(\d+)/", created.headers["Location"]).group(1))
        site = person["api"].get(f"/api/v1/microsites/{site_id}").json
        assert site["name"] == f"From {key}" and site["status"] == "draft"
        assert [b["type"] for b in site["blocks"]] == [b["type"] for b in starter.blocks]
        assert site["theme"]["name"] == starter.theme["name"]
        editor = client.get(created.headers["Location"]).get_data(as_text=True)
        assert editor.count("data-block-id=") == len(starter.blocks)

    listing = client.get("/microsites/").get_data(as_text=True)
    assert "From restaurant_menu" in listing and "No microsites yet" not in listing
    # The API offers the same starters; each one's blocks and theme make a page as they are.
    offered = person["api"].get("/api/v1/microsites/starters")
    assert offered.status_code == 200
    assert [s["key"] for s in offered.json] == list(starters.STARTERS)
    for starter in offered.json:
        made = person["api"].post("/api/v1/microsites", json={
            "name": starter["label"], "blocks": starter["blocks"], "theme": starter["theme"]})
        assert made.status_code == 201, (starter["key"], made.json)
        assert len(made.json["blocks"]) == len(starter["blocks"])


def test_add_a_block_from_the_registry_with_errors_beside_the_fields(client, person):
    site = _site(person, blocks=[{"type": "heading", "text": "Hello"}])
    base = f"/microsites/{site['id']}"
    editor = client.get(f"{base}/").get_data(as_text=True)
    for type_name in ("profile", "heading", "text", "link", "image", "social", "contact",
                      "wifi", "video", "map", "hours", "pdf", "divider", "lead_form"):
        assert f'data-add-type="{type_name}"' in editor

    form = client.get(f"{base}/?adding=link", headers=HX).get_data(as_text=True)
    assert 'name="f.label"' in form and 'name="f.url"' in form and 'name="f.icon"' in form

    bad = client.post(f"{base}/blocks", headers=person["hx"], data={
        "type": "link", "f.label": "Menu", "f.url": "javascript:alert(1)", "f.icon": "",
        "f.style": "primary"})
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert 'id="f-url-error"' in page and "Links start with" in page
    assert 'aria-invalid="true"' in page and 'value="Menu"' in page
    assert [b["type"] for b in _blocks(person, site["id"])] == ["heading"]

    good = client.post(f"{base}/blocks", headers=person["hx"], data={
        "type": "link", "f.label": "Menu", "f.url": "https://example.com/menu",
        "f.icon": "utensils", "f.style": "primary"})
    assert good.status_code == 200
    assert good.headers["HX-Trigger"] == "microsites:changed"
    assert good.headers["HX-Retarget"] == "#ms-blocks-panel"
    assert "Added “Link button”" in good.get_data(as_text=True)
    blocks = _blocks(person, site["id"])
    assert blocks[-1] == {**blocks[-1], "type": "link", "label": "Menu",
                          "url": "https://example.com/menu", "icon": "utensils"}

    # A list field: rows added and removed on the page before saving.
    rows = client.post(f"{base}/blocks/form", headers=person["hx"], data={
        "type": "social", "f.links.0._row": "1", "f.links.0.network": "instagram",
        "f.links.0.url": "https://instagram.com/cafe", "_rows": "add:links"})
    text = rows.get_data(as_text=True)
    assert 'name="f.links.1.network"' in text and 'value="https://instagram.com/cafe"' in text
    saved = client.post(f"{base}/blocks", headers=person["hx"], data={
        "type": "social", "f.links.0._row": "1", "f.links.0.network": "instagram",
        "f.links.0.url": "https://instagram.com/cafe", "f.links.1._row": "1",
        "f.links.1.network": "x", "f.links.1.url": "not a link"})
    assert saved.status_code == 422
    assert 'id="f-links-1-url-error"' in saved.get_data(as_text=True)
    saved = client.post(f"{base}/blocks", headers=person["hx"], data={
        "type": "social", "f.links.0._row": "1", "f.links.0.network": "instagram",
        "f.links.0.url": "https://instagram.com/cafe", "f.links.1._row": "1",
        "f.links.1.network": "x", "f.links.1.url": "https://x.com/cafe"})
    assert saved.status_code == 200
    assert _blocks(person, site["id"])[-1]["links"] == [
        {"network": "instagram", "url": "https://instagram.com/cafe"},
        {"network": "x", "url": "https://x.com/cafe"}]

    # Without htmx the same form works as a plain post (and lands back on the editor).
    plain = client.post(f"{base}/blocks", data={
        "csrf_token": person["token"], "type": "divider", "f.style": "space",
        "f.size": "small"})
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"{base}/")


def test_edit_in_place_keeps_id_and_visibility_and_cleans_rich_text(client, person):
    site = _site(person)
    base = f"/microsites/{site['id']}"
    text_block = _blocks(person, site["id"])[2]
    form = client.get(f"{base}/?editing={text_block['id']}", headers=HX).get_data(as_text=True)
    assert "data-rich" in form and 'name="f.html"' in form and "Fresh" in form

    changed = client.post(f"{base}/blocks/{text_block['id']}", headers=person["hx"], data={
        "f.html": '<p onclick="x()">New <em>text</em><script>alert(1)</script></p>'})
    assert changed.status_code == 200, changed.get_data(as_text=True)[:2000]
    after = _blocks(person, site["id"])[2]
    assert after["id"] == text_block["id"]
    assert after["html"] == "<p>New <em>text</em></p>"
    # The list says what the block holds in words, one space where a line ended.
    client.post(f"{base}/blocks/{text_block['id']}", headers=person["hx"], data={
        "f.html": "<h3>Starters</h3><ul><li>Bruschetta &amp; olives</li><li>Soup</li></ul>"})
    listed = client.get(f"{base}/").get_data(as_text=True)
    assert "Starters Bruschetta &amp; olives Soup</p>" in listed

    heading = _blocks(person, site["id"])[1]
    bad = client.post(f"{base}/blocks/{heading['id']}", headers=person["hx"],
                      data={"f.text": "", "f.level": "h2", "f.align": "center"})
    assert bad.status_code == 422 and 'id="f-text-error"' in bad.get_data(as_text=True)
    missing = client.post(f"{base}/blocks/nosuchblock", headers=person["hx"],
                          data={"f.text": "x"})
    assert missing.status_code == 404


def test_move_reorder_duplicate_hide_delete_and_undo(client, person):
    site = _site(person)
    base = f"/microsites/{site['id']}"
    ids = [b["id"] for b in _blocks(person, site["id"])]

    moved = client.post(f"{base}/blocks/{ids[1]}/move", headers=person["hx"],
                        data={"direction": "up"})
    assert moved.status_code == 200 and "position 1 of 6" in moved.get_data(as_text=True)
    assert [b["id"] for b in _blocks(person, site["id"])][:2] == [ids[1], ids[0]]
    at_top = client.post(f"{base}/blocks/{ids[1]}/move", headers=person["hx"],
                         data={"direction": "up"})
    assert at_top.status_code == 200
    assert [b["id"] for b in _blocks(person, site["id"])][:2] == [ids[1], ids[0]]

    # Without script the buttons are plain forms: back to the editor with the message.
    plain = client.post(f"{base}/blocks/{ids[1]}/move",
                        data={"csrf_token": person["token"], "direction": "down"})
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"{base}/")
    assert "position 2 of 6" in client.get(f"{base}/").get_data(as_text=True)
    client.post(f"{base}/blocks/{ids[1]}/move", headers=person["hx"], data={"direction": "up"})

    dragged = [ids[5], ids[0], ids[1], ids[2], ids[3], ids[4]]
    reordered = client.post(f"{base}/blocks/order", headers=person["hx"],
                            data={"order": dragged, "moved": ids[5]})
    assert reordered.status_code == 200
    assert [b["id"] for b in _blocks(person, site["id"])] == dragged

    duplicated = client.post(f"{base}/blocks/{ids[3]}/duplicate", headers=person["hx"])
    assert duplicated.status_code == 200
    blocks = _blocks(person, site["id"])
    copy = blocks[blocks.index(next(b for b in blocks if b["id"] == ids[3])) + 1]
    assert copy["id"] != ids[3] and copy["type"] == "link" and copy["label"] == "Order online"

    hidden = client.post(f"{base}/blocks/{ids[3]}/hide", headers=person["hx"])
    assert "not published" in hidden.get_data(as_text=True)
    assert next(b for b in _blocks(person, site["id"]) if b["id"] == ids[3])["hidden"] is True
    preview = client.get(f"{base}/preview").get_data(as_text=True)
    assert preview.count("Order online") == 1  # the copy; the hidden original is not drawn

    deleted = client.post(f"{base}/blocks/{ids[0]}/delete", headers=person["hx"])
    assert "Undo brings it back" in deleted.get_data(as_text=True)
    assert ids[0] not in [b["id"] for b in _blocks(person, site["id"])]

    undone = client.post(f"{base}/undo", headers=person["hx"])
    assert undone.status_code == 200 and "Undone" in undone.get_data(as_text=True)
    assert ids[0] in [b["id"] for b in _blocks(person, site["id"])]
    assert ">Redo<" in undone.get_data(as_text=True)
    redone = client.post(f"{base}/undo", headers=person["hx"])
    assert "Redone" in redone.get_data(as_text=True)
    assert ids[0] not in [b["id"] for b in _blocks(person, site["id"])]
    again = client.post(f"{base}/undo", headers=person["hx"])
    assert "Undone" in again.get_data(as_text=True)
    assert ids[0] in [b["id"] for b in _blocks(person, site["id"])]


def test_preview_is_the_draft_framed_only_by_the_builder(client, person):
    site = _site(person, theme={"name": "forest"})
    base = f"/microsites/{site['id']}"
    editor = client.get(f"{base}/").get_data(as_text=True)
    assert 'id="ms-preview-frame"' in editor
    assert 'sandbox="allow-same-origin allow-scripts"' in editor
    preview = client.get(f"{base}/preview")
    assert preview.status_code == 200 and "Café Lumière" in preview.get_data(as_text=True)
    policy = preview.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert preview.headers["Cache-Control"] == "no-store"
    css_href = re.search(r'href="([^"]*/preview\.css[^"]*)"', preview.get_data(as_text=True))
    assert css_href, "the preview links its own stylesheet"
    css = client.get(css_href.group(1).replace("&amp;", "&"))
    assert css.mimetype == "text/css" and "#15803d" in css.get_data(as_text=True)


def test_look_settings_publish_history_and_leads(client, person, app):
    site = _site(person)
    base = f"/microsites/{site['id']}"

    look = client.get(f"{base}/look").get_data(as_text=True)
    assert "Midnight" in look and 'type="color"' in look
    token = person["token"]
    theme = {"csrf_token": token, "theme": "classic", "background": "#f8fafc",
             "surface": "#ffffff", "text": "#0f172a", "muted": "#475569", "accent": "#ff0000",
             "accent_text": "#ffffff", "font": "serif", "button_shape": "pill",
             "background_asset_id": "", "custom_css": ".ms-block { letter-spacing: .01em }"}
    saved = client.post(f"{base}/look", data=theme)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    got = person["api"].get(f"/api/v1/microsites/{site['id']}").json
    assert got["theme"] == {"name": "classic", "accent": "#ff0000", "font": "serif",
                            "button_shape": "pill"}
    assert got["custom_css"] == ".ms-block { letter-spacing: .01em }"
    bad_css = client.post(f"{base}/look", data={**theme, "custom_css": "@import url(x.css);"})
    assert bad_css.status_code == 422 and 'id="custom_css-error"' in bad_css.get_data(
        as_text=True)
    live = client.post(f"{base}/look", headers=person["hx"], data={**theme, "theme": "forest"})
    assert live.status_code == 200 and live.headers["HX-Trigger"] == "microsites:changed"
    assert 'id="ms-look-form"' in live.get_data(as_text=True)
    assert 'value="#15803d"' in live.get_data(as_text=True)  # the new theme's own colours
    assert person["api"].get(f"/api/v1/microsites/{site['id']}").json["theme"] == {
        "name": "forest"}
    live_bad = client.post(f"{base}/look", headers=person["hx"],
                           data={**theme, "theme": "forest", "custom_css": "@import x;"})
    assert live_bad.status_code == 422 and 'id="custom_css-error"' in live_bad.get_data(
        as_text=True)
    switched = client.post(f"{base}/look", data={**theme, "theme": "midnight"})
    assert switched.status_code == 302
    assert person["api"].get(f"/api/v1/microsites/{site['id']}").json["theme"] == {
        "name": "midnight"}

    settings = {"csrf_token": token, "name": "Café Lumière", "slug": "Not A Slug!",
                "seo_title": "Café", "seo_description": "Coffee", "seo_image": "",
                "domain": "", "password": "", "noindex": "y"}
    refused = client.post(f"{base}/settings", data=settings)
    assert refused.status_code == 422 and 'id="slug-error"' in refused.get_data(as_text=True)
    saved = client.post(f"{base}/settings", data={**settings, "slug": "cafe-lumiere",
                                                  "password": "espresso"})
    assert saved.status_code == 302
    got = person["api"].get(f"/api/v1/microsites/{site['id']}").json
    assert got["slug"] == "cafe-lumiere" and got["noindex"] is True
    assert got["seo"]["title"] == "Café" and got["password_protected"] is True
    client.post(f"{base}/settings", data={**settings, "slug": "cafe-lumiere",
                                          "remove_password": "y"})
    assert person["api"].get(f"/api/v1/microsites/{site['id']}").json[
        "password_protected"] is False

    published = client.post(f"{base}/publish", data={"csrf_token": token})
    assert published.status_code == 302
    got = person["api"].get(f"/api/v1/microsites/{site['id']}").json
    assert got["status"] == "published"
    assert "Café Lumière" in client.get("/m/cafe-lumiere").get_data(as_text=True)
    assert "Published" in client.get(f"{base}/").get_data(as_text=True)

    history = client.get(f"{base}/history").get_data(as_text=True)
    first = re.findall(rf"{base}/versions/(\d+)/restore", history)[-1]
    restored = client.post(f"{base}/versions/{first}/restore", data={"csrf_token": token})
    assert restored.status_code == 302
    got = person["api"].get(f"/api/v1/microsites/{site['id']}").json
    assert got["name"] == "Café" and got["has_unpublished_changes"] is True

    unpublished = client.post(f"{base}/unpublish", data={"csrf_token": token})
    assert unpublished.status_code == 302
    assert person["api"].get(f"/api/v1/microsites/{site['id']}").json["status"] == "draft"

    leads = client.get(f"{base}/leads").get_data(as_text=True)
    assert "No leads yet" in leads
    csv = client.get(f"{base}/leads.csv")
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).startswith("id,")

    gone = client.post(f"{base}/delete", data={"csrf_token": token})
    assert gone.status_code == 302
    assert person["api"].get(f"/api/v1/microsites/{site['id']}").status_code == 404


def test_a_viewer_sees_the_builder_but_changes_nothing(client, create_user, login, api, db):
    from qrplatform.auth.models import Membership

    owner_user = create_user()
    owner = api(owner_user)
    site = owner.post("/api/v1/microsites", json={"name": "Team page", "blocks": PAGE}).json
    viewer = create_user()
    db.session.add(Membership(user_id=viewer.id, workspace_id=owner.workspace_id,
                              role="viewer"))
    db.session.commit()
    login(viewer)
    client.post("/workspaces/switch", data={"workspace_id": owner.workspace_id,
                                            "csrf_token": csrf_token(client, "/dashboard")})
    base = f"/microsites/{site['id']}"
    editor = client.get(f"{base}/")
    page = editor.get_data(as_text=True)
    assert editor.status_code == 200 and "Café Lumière" in page
    assert "Add a block" not in page and "/move" not in page
    token = csrf_token(client, "/dashboard")
    first = owner.get(f"/api/v1/microsites/{site['id']}").json["blocks"][0]["id"]
    refused = client.post(f"{base}/blocks/{first}/delete", data={"csrf_token": token})
    assert refused.status_code == 403
    assert client.get(f"{base}/leads").status_code == 403


def test_a_block_type_another_plugin_adds_gets_its_form_from_its_schema(client, person, app):
    """The builder knows no block type by name: one contributed to the registry (as a
    third-party plugin does at startup) is offered, drawn from its schema and saved."""
    from marshmallow import Schema

    from qrp_microsites.blocks import EXTENSION_POINT, Block
    from qrp_microsites.fields import Color, Text, Url
    from qrplatform.registry import registry

    class CouponFields(Schema):
        code = Text(max=20, required=True, metadata={"label": "Coupon code"})
        shop = Url(required=True, metadata={"description": "where it can be used"})
        colour = Color(load_default="#aa0000")

    coupon = Block("coupon", "Coupon", CouponFields, "microsites/page/blocks/heading.html",
                   icon="ticket", description="A code to copy at the till",
                   defaults={"code": "SPRING"})
    contributions = registry(app).contributions[EXTENSION_POINT]
    contributions.append(coupon)
    try:
        site = _site(person, blocks=[{"type": "heading", "text": "Deals"}])
        base = f"/microsites/{site['id']}"
        editor = client.get(f"{base}/").get_data(as_text=True)
        assert 'data-add-type="coupon"' in editor and "A code to copy at the till" in editor
        form = client.get(f"{base}/?adding=coupon", headers=HX).get_data(as_text=True)
        assert "Coupon code" in form and 'value="SPRING"' in form
        assert 'type="color"' in form and "where it can be used" in form
        refused = client.post(f"{base}/blocks", headers=person["hx"], data={
            "type": "coupon", "f.code": "SPRING", "f.shop": "data:text/html,hi",
            "f.colour": "#aa0000"})
        assert refused.status_code == 422
        assert 'id="f-shop-error"' in refused.get_data(as_text=True)
        saved = client.post(f"{base}/blocks", headers=person["hx"], data={
            "type": "coupon", "f.code": "SPRING", "f.shop": "https://example.com/shop",
            "f.colour": "#00AA00"})
        assert saved.status_code == 200
        assert _blocks(person, site["id"])[-1] == {
            **_blocks(person, site["id"])[-1], "type": "coupon", "code": "SPRING",
            "shop": "https://example.com/shop", "colour": "#00aa00"}
    finally:
        contributions.remove(coupon)


def test_an_image_block_picks_from_the_media_library(client, person):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "#336699").save(buffer, "PNG")
    asset = person["api"].post("/api/v1/assets", data={
        "file": (io.BytesIO(buffer.getvalue()), "Shop front.png")},
        content_type="multipart/form-data")
    assert asset.status_code == 201, asset.json
    site = _site(person, blocks=[{"type": "heading", "text": "Our shop"}])
    base = f"/microsites/{site['id']}"
    form = client.get(f"{base}/?adding=image", headers=HX).get_data(as_text=True)
    assert f'<option value="{asset.json["id"]}"' in form and "Shop front" in form
    missing = client.post(f"{base}/blocks", headers=person["hx"], data={
        "type": "image", "f.asset_id": "", "f.alt": "", "f.caption": "", "f.url": ""})
    assert missing.status_code == 422 and 'id="f-asset_id-error"' in missing.get_data(
        as_text=True)
    saved = client.post(f"{base}/blocks", headers=person["hx"], data={
        "type": "image", "f.asset_id": str(asset.json["id"]), "f.alt": "The shop's window",
        "f.caption": "", "f.url": ""})
    assert saved.status_code == 200, saved.get_data(as_text=True)[:2000]
    block = _blocks(person, site["id"])[-1]
    assert block["asset_id"] == asset.json["id"] and block["url"] is None
    assert "The shop&#39;s window" in client.get(f"{base}/preview").get_data(as_text=True)


def test_leads_sent_by_visitors_are_listed_and_downloaded(client, person, app):
    site = _site(person)
    base = f"/microsites/{site['id']}"
    published = person["api"].post(f"/api/v1/microsites/{site['id']}/publish").json
    form_id = next(b["id"] for b in published["blocks"] if b["type"] == "lead_form")
    visitor = app.test_client()
    sent = visitor.post(f"/m/{published['slug']}/lead/{form_id}", data={
        "name": "Grace Hopper", "email": "grace@example.com", "message": "=1+1 call me"})
    assert sent.status_code in (200, 303), sent.get_data(as_text=True)[:500]
    leads = client.get(f"{base}/leads").get_data(as_text=True)
    assert "Grace Hopper" in leads and "grace@example.com" in leads
    assert f'href="{base}/leads.csv"' in leads
    csv = client.get(f"{base}/leads.csv").get_data(as_text=True)
    assert "Grace Hopper" in csv and "'=1+1 call me" in csv
