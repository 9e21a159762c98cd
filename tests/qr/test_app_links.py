"""App deep links ("open in app"): per-OS targets of a dynamic code, routed on the redirect's
fast path from the cached entry, with the code's destination as the web fallback."""

import re

import pytest

from tests.qr.test_redirect import make_code, scan
from tests.qr.test_smartlinks import ANDROID, MAC_FIREFOX, location

APP_LINK = {"ios": {"app": "https://links.example.com/item/1",
                    "store": "https://apps.apple.com/app/id123"},
            "android": {"store": "https://play.google.com/store/apps/details?id=com.example"}}


@pytest.fixture
def caller(api):
    return api()


def test_phones_open_the_app_or_its_store_and_others_the_web(client, caller, scans):
    code = make_code(caller, app_link=APP_LINK, utm={"utm_source": "poster"})
    assert code["app_link"] == APP_LINK
    assert location(scan(client, code)) == "https://links.example.com/item/1"  # an iPhone
    assert location(scan(client, code, **{"User-Agent": ANDROID})) == APP_LINK["android"][
        "store"]
    assert location(scan(client, code, **{"User-Agent": MAC_FIREFOX})) == (
        "https://example.com/landing?utm_source=poster")
    assert len(scans()) == 3 and all(e.data["outcome"] == "redirected" for e in scans())


def test_a_rule_still_comes_first_and_the_app_link_can_be_removed(client, caller):
    code = make_code(caller, app_link=APP_LINK, rules=[
        {"when": {"country": ["DE"]}, "destination": "https://example.de/"}])
    assert location(scan(client, code, **{"CF-IPCountry": "DE"})) == "https://example.de/"
    assert location(scan(client, code)) == "https://links.example.com/item/1"
    removed = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"app_link": None})
    assert removed.status_code == 200 and removed.json["app_link"] is None
    assert location(scan(client, code)) == "https://example.com/landing"


def test_an_apps_own_scheme_gets_a_page_that_tries_it_then_falls_back(client, caller, scans):
    code = make_code(caller, app_link={
        "ios": {"app": 'myapp://item/1?x="><script>', "store": "https://apps.apple.com/a/id1"},
        "android": {"app": "myapp://item/1"}})
    page = scan(client, code)
    assert page.status_code == 200 and page.mimetype == "text/html"
    body = page.get_data(as_text=True)
    assert 'data-app="myapp://item/1?x=&#34;&gt;&lt;script&gt;"' in body.replace("&quot;", "&#34;")
    assert 'data-fallback="https://apps.apple.com/a/id1"' in body
    assert "<script>" in body and body.count("<script>") == 1
    script = re.search(r"<script>(.*)</script>", body).group(1)
    import base64
    import hashlib
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page.headers["Content-Security-Policy"]
    # No store link: the fallback is the web destination.
    android = scan(client, code, **{"User-Agent": ANDROID}).get_data(as_text=True)
    assert 'data-fallback="https://example.com/landing"' in android
    assert len(scans()) == 2


@pytest.mark.parametrize(("app_link", "field"), [
    ({"ios": {"app": "javascript:alert(1)"}}, "app_link.ios.app"),
    ({"ios": {"app": "data:text/html,hi"}}, "app_link.ios.app"),
    ({"android": {"app": "my app://x"}}, "app_link.android.app"),
    ({"android": {"store": "market://details?id=x"}}, "app_link.android.store"),
    ({"ios": {}, "windows": {"app": "x://"}}, "app_link"),
    ({"ios": {"other": "https://example.com"}}, "app_link.ios"),
    ({"ios": "https://example.com"}, "app_link.ios"),
])
def test_unsafe_or_malformed_app_links_are_refused(caller, app_link, field):
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/",
        "app_link": app_link})
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]


def test_a_static_code_has_no_app_link(caller):
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "static", "destination": "https://example.com/",
        "app_link": APP_LINK})
    assert response.status_code == 422 and "app_link" in response.json["error"]["fields"]


def test_test_scan_follows_the_app_link(caller):
    code = make_code(caller, app_link=APP_LINK)
    answer = caller.post(f"/api/v1/qr-codes/{code['id']}/test-scan", json={"os": "android"})
    assert answer.status_code == 200, answer.json
    assert answer.json["destination"] == APP_LINK["android"]["store"]


def test_the_editor_sets_the_app_link(client, create_user, login):
    from qrplatform.testing.pytest_plugin import csrf_token

    login(create_user())
    token = csrf_token(client, "/qr/new")
    form = {"csrf_token": token, "name": "App", "kind": "dynamic", "type": "url",
            "content-url-url": "https://example.com/web", "foreground": "#000000",
            "background": "#ffffff", "module_style": "square", "eye_style": "square",
            "error_correction": "M", "quiet_zone": "4", "logo_size": "0.22", "frame": "none",
            "redirect_status": "302", "design_template": "0",
            "ios_app": "myapp://home", "android_store": "ftp://nope"}
    refused = client.post("/qr/new", data=form)
    assert refused.status_code == 422
    assert 'id="android_store-error"' in refused.get_data(as_text=True)
    created = client.post("/qr/new", data={
        **form, "android_store": "https://play.google.com/store/apps/details?id=x"})
    assert created.status_code == 302, created.get_data(as_text=True)[:1000]
    code_id = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    page = client.get(f"/qr/{code_id}/edit").get_data(as_text=True)
    assert 'value="myapp://home"' in page
    edited = client.post(f"/qr/{code_id}/edit", data={**form, "ios_app": "",
                                                      "android_store": ""})
    assert edited.status_code == 302
    assert 'value="myapp://home"' not in client.get(f"/qr/{code_id}/edit").get_data(
        as_text=True)
