"""Own slugs: a dynamic code's short code chosen by its owner, checked (form, reserved words,
taken anywhere on the platform), and changed later with the old one kept as an alias that
still redirects, through the API and the real redirect (PostgreSQL, Redis)."""

import csv
import io
import json

import pytest

from tests.qr.test_redirect import make_code, scan


@pytest.fixture
def caller(api):
    return api()


def slug_errors(response):
    assert response.status_code == 422, response.json
    return response.json["error"]["fields"]["slug"]


def test_a_code_made_with_its_own_slug_redirects_by_it(client, caller, scans):
    code = make_code(caller, slug="Spring-menu_2026")
    assert code["slug"] == code["short_code"] == "Spring-menu_2026"
    assert code["short_url"].endswith("/r/Spring-menu_2026")
    assert code["slug_aliases"] == []
    response = scan(client, code)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/landing"
    assert [e.data["code_id"] for e in scans()] == [code["id"]]


@pytest.mark.parametrize(("slug", "says"), [
    ("ab", "3 to 64 characters"),
    ("x" * 65, "3 to 64 characters"),
    ("two words", "' '"),
    ("café", "'é'"),
    ("a/b/c", "'/'"),
    ("menu?x=1", "'?'"),
    ("-menu", "start and end with a letter or digit"),
    ("menu_", "start and end with a letter or digit"),
    ("api", "reserved"),
    ("Login", "reserved"),
    ("healthz", "reserved"),
])
def test_odd_or_reserved_slugs_are_refused_with_a_clear_message(caller, slug, says):
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/", "slug": slug})
    assert any(says in message for message in slug_errors(response)), response.json


def test_a_slug_must_be_text_and_only_a_dynamic_code_has_one(caller):
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/", "slug": 1234})
    assert response.status_code == 422 and "slug" in response.json["error"]["fields"]
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "static", "destination": "https://example.com/", "slug": "mine"})
    assert "dynamic" in slug_errors(response)[0]


def test_changing_the_slug_keeps_the_old_one_redirecting(client, caller, scans):
    code = make_code(caller)
    random_code = code["short_code"]
    assert scan(client, code).status_code == 302  # cached in every tier now
    # A scan of the new slug before it exists: remembered as unknown, then forgotten.
    assert scan(client, {"short_code": "poster-b"}).status_code == 404
    changed = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"slug": "poster-b"})
    assert changed.status_code == 200, changed.json
    assert changed.json["slug"] == "poster-b"
    assert changed.json["short_url"].endswith("/r/poster-b")
    assert changed.json["slug_aliases"] == [random_code]
    assert changed.json["image_url"]["png"] != code["image_url"]["png"]  # a new link to print

    assert scan(client, {"short_code": "poster-b"}).headers["Location"] == (
        "https://example.com/landing")
    assert scan(client, {"short_code": random_code}).headers["Location"] == (
        "https://example.com/landing")
    # Later changes reach the alias too (its cache entry is dropped with the code's).
    caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"destination": "https://example.com/2"})
    assert scan(client, {"short_code": random_code}).headers["Location"] == (
        "https://example.com/2")
    assert {e.data["code_id"] for e in scans()} == {code["id"]}
    assert scans()[-1].data["short_code"] == "poster-b"

    # Going back takes the alias back; the other name becomes the alias.
    back = caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"slug": random_code}).json
    assert back["slug"] == random_code and back["slug_aliases"] == ["poster-b"]
    assert scan(client, {"short_code": "poster-b"}).headers["Location"] == (
        "https://example.com/2")
    archived = caller.delete(f"/api/v1/qr-codes/{code['id']}")
    assert archived.status_code in (200, 204)
    assert scan(client, {"short_code": "poster-b"}).status_code == 410


def test_a_password_protected_code_unlocks_through_an_alias(client, caller):
    code = make_code(caller, type="text", content={"text": "the secret menu"},
                     destination=None, password="pssst")
    old = code["short_code"]
    caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"slug": "secret-menu"})
    assert scan(client, {"short_code": old}).status_code == 200  # the password form
    unlocked = client.post(f"/r/{old}", data={"password": "pssst"})
    assert unlocked.status_code == 303
    assert "/r/secret-menu/c?t=" in unlocked.headers["Location"]
    page = client.get(unlocked.headers["Location"])
    assert page.status_code == 200 and "the secret menu" in page.get_data(as_text=True)


def test_slugs_and_aliases_are_unique_across_workspaces(api, client, caller):
    intruder = api()
    owners = make_code(caller, slug="summer-sale")
    caller.patch(f"/api/v1/qr-codes/{owners['id']}", json={"slug": "summer-sale-2"})
    for slug in ("summer-sale", "summer-sale-2"):
        refused = intruder.post("/api/v1/qr-codes", json={
            "type": "url", "kind": "dynamic", "destination": "https://evil.example/",
            "slug": slug})
        assert "already the short link" in slug_errors(refused)[0]
        mine = make_code(intruder)
        assert "already" in slug_errors(intruder.patch(f"/api/v1/qr-codes/{mine['id']}",
                                                        json={"slug": slug}))[0]
    # Another workspace's code cannot be renamed, nor its aliases seen.
    assert intruder.patch(f"/api/v1/qr-codes/{owners['id']}",
                          json={"slug": "stolen"}).status_code == 404
    assert "summer-sale" not in intruder.get("/api/v1/qr-codes/export").get_data(as_text=True)
    for slug in ("summer-sale", "summer-sale-2"):
        assert scan(client, {"short_code": slug}).headers["Location"] == (
            "https://example.com/landing")


def test_the_redirect_map_has_slug_aliases_rules_and_variants(caller):
    code = make_code(caller, slug="map-me", rules=[
        {"when": {"os": ["ios"]}, "destination": "https://example.com/ios"}],
        variants=[{"destination": "https://example.com/a", "weight": 1},
                  {"destination": "https://example.com/b", "weight": 1}])
    caller.patch(f"/api/v1/qr-codes/{code['id']}", json={"slug": "map-me-2"})
    exported = caller.get("/api/v1/qr-codes/export")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    (row,) = csv.DictReader(io.StringIO(exported.get_data(as_text=True)))
    assert row["short_url"].endswith("/r/map-me-2") and row["slug"] == "map-me-2"
    assert row["aliases"] == "map-me"
    assert json.loads(row["rules"]) == [{**code["rules"][0]}]
    assert [v["destination"] for v in json.loads(row["variants"])] == [
        "https://example.com/a", "https://example.com/b"]


def test_the_editor_chooses_and_changes_the_slug(client, create_user, login):
    from qrplatform.testing.pytest_plugin import csrf_token

    login(create_user())
    token = csrf_token(client, "/qr/new")
    form = {"csrf_token": token, "name": "Menu", "kind": "dynamic", "type": "url",
            "content-url-url": "https://example.com/menu", "foreground": "#000000",
            "background": "#ffffff", "module_style": "square", "eye_style": "square",
            "error_correction": "M", "quiet_zone": "4", "logo_size": "0.22", "frame": "none",
            "redirect_status": "302", "design_template": "0", "slug": "page-menu"}
    created = client.post("/qr/new", data=form)
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    code_id = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert 'value="page-menu"' in client.get(f"/qr/{code_id}/edit").get_data(as_text=True)
    bad = client.post(f"/qr/{code_id}/edit", data={**form, "slug": "page menu"})
    assert bad.status_code == 422
    assert 'id="slug-error"' in bad.get_data(as_text=True)
    assert "letters a-z" in bad.get_data(as_text=True)
    assert client.post(f"/qr/{code_id}/edit", data={**form, "slug": "page-menu-2"}
                       ).status_code == 302
    for slug in ("page-menu", "page-menu-2"):
        assert client.get(f"/r/{slug}").headers["Location"] == "https://example.com/menu"


def test_the_list_page_exports_the_same_redirect_map(client, api, create_user, login):
    user = create_user()
    login(user)
    caller = api(user)
    make_code(caller, slug="page-map", rules=[
        {"when": {"country": ["DE"]}, "destination": "https://example.com/de"}])
    listing = client.get("/qr/").get_data(as_text=True)
    assert 'href="/qr/export.csv"' in listing and "Export the redirect map" in listing
    page = client.get("/qr/export.csv")
    assert page.status_code == 200 and page.mimetype == "text/csv"
    assert "attachment" in page.headers["Content-Disposition"]
    assert page.get_data(as_text=True) == caller.get("/api/v1/qr-codes/export").get_data(
        as_text=True)
    (row,) = csv.DictReader(io.StringIO(page.get_data(as_text=True)))
    assert row["slug"] == "page-map" and json.loads(row["rules"])[0]["when"] == {
        "country": ["DE"]}
