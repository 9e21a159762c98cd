"""The QR code type "microsite": a dynamic code whose short link opens one of the workspace's
pages at its current address (it follows a new slug), refused as static, for another
workspace's page, or for a page that does not exist; a page that live codes open cannot be
deleted;
the editor offers the workspace's pages to choose from."""

import dataclasses

import pytest

from microsites.makers import PAGE
from qrplatform.testing.pytest_plugin import csrf_token, set_plan
from tests.qr.test_redirect import scan


@pytest.fixture
def page(owner):
    set_plan(owner.workspace_id, "business")
    site = owner.post("/api/v1/microsites", json={"name": "Spring menu", "blocks": PAGE}).json
    assert owner.post(f"/api/v1/microsites/{site['id']}/publish").status_code == 200
    return owner.get(f"/api/v1/microsites/{site['id']}").json


def _code(owner, microsite_id, **fields):
    return owner.post("/api/v1/qr-codes", json={"kind": "dynamic", "type": "microsite",
                                                "content": {"microsite_id": microsite_id},
                                                **fields})


def test_a_microsite_code_opens_the_page_and_follows_its_new_slug(owner, page):
    created = _code(owner, page["id"], name="Table card")
    assert created.status_code == 201, created.json
    code = created.json
    assert code["type"] == "microsite" and code["kind"] == "dynamic"
    assert code["content"] == {"microsite_id": page["id"]}
    assert code["destination"] == page["url"] and page["url"].endswith(f"/m/{page['slug']}")

    client = owner.client
    answer = scan(client, code)
    assert answer.status_code == 302 and answer.headers["Location"] == page["url"]
    shown = client.get(answer.headers["Location"])
    assert shown.status_code == 200 and "Café Lumière" in shown.get_data(as_text=True)

    # Renamed: the same printed code opens the page at its new address at once (the cached
    # link was forgotten), and the code's destination says so.
    renamed = owner.patch(f"/api/v1/microsites/{page['id']}", json={"slug": "summer-menu"})
    assert renamed.status_code == 200, renamed.json
    assert scan(client, code).headers["Location"].endswith("/m/summer-menu")
    assert owner.get(f"/api/v1/qr-codes/{code['id']}").json["destination"].endswith(
        "/m/summer-menu")
    listed = owner.get("/api/v1/qr-codes", query_string={"type": "microsite"}).json
    assert [item["id"] for item in listed["items"]] == [code["id"]]


def test_refused_kinds_and_pages_say_which_field(owner, page, api):
    static = _code(owner, page["id"], kind="static")
    assert static.status_code == 422 and "must be dynamic" in static.json["error"]["fields"][
        "kind"][0]

    theirs = api()
    set_plan(theirs.workspace_id, "business")
    other = theirs.post("/api/v1/microsites", json={"name": "Theirs", "blocks": PAGE}).json
    for microsite_id in (other["id"], 999_999):
        refused = _code(owner, microsite_id)
        assert refused.status_code == 422, refused.json
        assert refused.json["error"]["fields"]["content.microsite_id"] == [
            "No such microsite in this workspace."]
    for bad in ("abc", 2**63, -1, None, [1]):
        refused = _code(owner, bad)
        assert refused.status_code == 422, (bad, refused.json)
        assert "content.microsite_id" in refused.json["error"]["fields"]

    # An existing url code cannot become a page of another workspace either.
    url_code = owner.post("/api/v1/qr-codes", json={
        "kind": "dynamic", "type": "url", "content": {"url": "https://example.com"}}).json
    moved = owner.patch(f"/api/v1/qr-codes/{url_code['id']}", json={
        "type": "microsite", "content": {"microsite_id": other["id"]}})
    assert moved.status_code == 422


def test_a_page_that_codes_open_is_not_deleted(owner, page):
    code = _code(owner, page["id"], name="Table card").json
    refused = owner.delete(f"/api/v1/microsites/{page['id']}")
    assert refused.status_code == 409
    assert "Table card" in refused.json["error"]["message"]
    # Archived, the code no longer opens anything: the page can go, and the code, if
    # restored, says its page is missing.
    assert owner.delete(f"/api/v1/qr-codes/{code['id']}").status_code == 204
    assert owner.delete(f"/api/v1/microsites/{page['id']}").status_code == 204
    assert owner.patch(f"/api/v1/qr-codes/{code['id']}", json={"archived": False}
                       ).status_code == 200
    missing = scan(owner.client, code)
    assert missing.status_code == 302 and missing.headers["Location"].endswith("/c")
    assert owner.client.get(missing.headers["Location"]).status_code == 404


def test_the_editor_offers_the_workspaces_pages(client, create_user, login, api):
    user = create_user()
    owner = api(user)
    set_plan(owner.workspace_id, "business")
    site = owner.post("/api/v1/microsites", json={"name": "Spring menu", "blocks": PAGE}).json
    login(user)
    editor = client.get("/qr/new").get_data(as_text=True)
    assert '<option value="microsite"' in editor
    assert f'<option value="{site["id"]}"' in editor and "Spring menu (draft)" in editor
    assert "data-dynamic-only" in editor and "must be dynamic" in editor

    form = {"csrf_token": csrf_token(client, "/qr/new"), "name": "Menu card",
            "kind": "dynamic", "type": "microsite", "content-microsite-microsite_id":
            str(site["id"]), "foreground": "#000000", "background": "#ffffff",
            "module_style": "square", "eye_style": "square", "error_correction": "M",
            "quiet_zone": "4", "logo_size": "0.22", "frame": "none", "redirect_status": "302",
            "design_template": "0"}
    created = client.post("/qr/new", data=form)
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    code = owner.get("/api/v1/qr-codes", query_string={"type": "microsite"}).json["items"][0]
    assert code["name"] == "Menu card" and code["destination"] == site["url"]
    assert "Spring menu" in client.get(f"/qr/{code['id']}").get_data(as_text=True)

    refused = client.post("/qr/new", data={**form, "content-microsite-microsite_id": "0"})
    assert refused.status_code == 422
    assert 'id="content-microsite-microsite_id-error"' in refused.get_data(as_text=True)


@pytest.mark.browser
@pytest.mark.slow
def test_in_the_browser_a_microsite_code_is_dynamic_and_opens_the_page(browser, live_server,
                                                                       create_user, api):
    from playwright.sync_api import expect

    from qrplatform.testing.browser import log_in, on_errors

    user = create_user(email="mia@example.com", name="Mia")
    owner = api(user)
    set_plan(owner.workspace_id, "business")
    site = owner.post("/api/v1/microsites", json={"name": "Spring menu", "blocks": PAGE}).json
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844},
                                  is_mobile=True)
    tab = context.new_page()
    problems = on_errors(tab)
    try:
        log_in(tab, "mia@example.com")
        # From the page's builder, "QR code" opens the editor with the page chosen.
        tab.goto(f"/microsites/{site['id']}/")
        tab.get_by_role("button", name="QR code").click()
        tab.wait_for_url("**/qr/new?*")
        expect(tab.locator("#type")).to_have_value("microsite")
        expect(tab.locator("#content-microsite-microsite_id")).to_have_value(str(site["id"]))
        tab.goto("/qr/new")
        dynamic, static = tab.locator("#kind-0"), tab.locator("#kind-1")
        static.check()
        tab.locator("#type").select_option("microsite")
        # Static is not offered for a microsite, the page says why, and Dynamic is chosen.
        expect(static).to_be_disabled()
        expect(dynamic).to_be_checked()
        expect(tab.locator("#kind-help")).to_contain_text("must be dynamic")
        # Back on another type, Static returns as it was chosen.
        tab.locator("#type").select_option("text")
        expect(static).to_be_enabled()
        expect(static).to_be_checked()
        tab.locator("#type").select_option("microsite")
        expect(dynamic).to_be_checked()
        tab.locator("#content-microsite-microsite_id").select_option(label="Spring menu")
        tab.locator("#name").fill("Menu card")
        tab.get_by_role("button", name="Create QR code").click()
        tab.wait_for_url("**/qr/*")
        expect(tab.get_by_text("Spring menu ·")).to_be_visible()
        (code,) = owner.get("/api/v1/qr-codes").json["items"]
        assert (code["kind"], code["type"]) == ("dynamic", "microsite")
        tab.goto(f"/r/{code['short_code']}")
        expect(tab.get_by_text("Café Lumière")).to_be_visible()
    finally:
        context.close()
    assert not problems, problems


def test_bulk_samples_the_workspaces_pages_and_refuses_anothers(owner, page, api):
    import io

    sample = owner.get("/api/v1/qr-codes/bulk/sample", query_string={"type": "microsite"})
    assert sample.status_code == 200
    assert sample.get_data(as_text=True).splitlines() == [
        "name,microsite_id,tags", f"Spring menu,{page['id']},"]

    theirs = api()
    set_plan(theirs.workspace_id, "business")
    other = theirs.post("/api/v1/microsites", json={"name": "Theirs", "blocks": PAGE}).json
    data = f"name,microsite_id\nOurs,{page['id']}\nTheirs,{other['id']}\n".encode()
    checked = owner.post("/api/v1/qr-codes/bulk/check", data={
        "file": (io.BytesIO(data), "codes.csv"), "type": "microsite", "kind": "dynamic"},
        content_type="multipart/form-data")
    assert checked.status_code == 200, checked.json
    assert checked.json["rows"] == 1
    assert checked.json["invalid"] == [
        {"row": 3, "errors": {"microsite_id": ["No such microsite in this workspace."]}}]


def test_a_plugin_type_may_not_take_a_built_in_name_or_bring_a_plain_schema():
    from marshmallow import Schema

    from qrp_microsites.qrtype import LINK_TYPE, MicrositeContent
    from qrp_qr.linktypes import check_link_type

    check_link_type(LINK_TYPE, "microsites")
    for name, schema, why in (("url", MicrositeContent, "built-in"),
                              ("Has Space", MicrositeContent, "lower-case"),
                              ("toolongname1", MicrositeContent, "2-10"),
                              ("coupon", Schema, "ContentSchema")):
        with pytest.raises(ValueError, match=why):
            check_link_type(dataclasses.replace(LINK_TYPE, name=name, schema=schema), "x")
