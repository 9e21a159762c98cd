"""Workspace theme presets: a look saved under a name, given to other pages (API and the Look
tab), checked as a page's look is, kept per workspace."""

from __future__ import annotations

from qrplatform.testing.pytest_plugin import csrf_token, set_plan
from tests.microsites.makers import PAGE

PRESETS = "/api/v1/microsites/theme-presets"
LOOK = {"name": "midnight", "accent": "#f59e0b", "font": "lora"}


def _page(owner, **extra) -> dict:
    response = owner.post("/api/v1/microsites", json={"name": "Café", "blocks": PAGE, **extra})
    assert response.status_code == 201, response.json
    return response.json


def test_presets_through_the_api(api):
    owner = api()
    set_plan(owner.workspace_id, "business")
    made = owner.post(PRESETS, json={"name": " Night  menu ", "theme": LOOK,
                                     "custom_css": ".ms-page { letter-spacing: .01em; }"})
    assert made.status_code == 201, made.json
    preset = made.json
    assert preset["name"] == "Night menu" and preset["theme"]["accent"] == "#f59e0b"
    assert owner.get(f"{PRESETS}/{preset['id']}").json == preset

    source = _page(owner, theme={"name": "forest", "accent": "#166534"})
    copied = owner.post(PRESETS, json={"name": "Green", "microsite_id": source["id"]}).json
    assert copied["theme"] == {"name": "forest", "accent": "#166534"}
    assert [p["name"] for p in owner.get(PRESETS).json["items"]] == ["Green", "Night menu"]

    # A page takes a preset's look when made or later; deleting the preset leaves it.
    started = _page(owner, theme_preset_id=preset["id"])
    assert started["theme"] == preset["theme"] and started["custom_css"] == preset["custom_css"]
    changed = owner.patch(f"/api/v1/microsites/{source['id']}",
                          json={"theme_preset_id": preset["id"]}).json
    assert changed["theme"]["name"] == "midnight"
    assert owner.patch(f"{PRESETS}/{copied['id']}", json={"name": "Leafy"}).json["name"] == (
        "Leafy")
    assert owner.delete(f"{PRESETS}/{preset['id']}").status_code == 204
    assert owner.get(f"/api/v1/microsites/{started['id']}").json["theme"]["name"] == "midnight"
    assert owner.get(f"{PRESETS}/{preset['id']}").status_code == 404


def test_refusals_name_the_field(api):
    owner = api()
    first = owner.post(PRESETS, json={"name": "Brand", "theme": LOOK})
    assert first.status_code == 201
    taken = owner.post(PRESETS, json={"name": "Brand", "theme": LOOK})
    assert taken.status_code == 409 and taken.json["error"]["fields"] == {
        "name": [taken.json["error"]["message"]]}
    for body, field in (({"name": "", "theme": LOOK}, "name"),
                        ({"name": "x" * 81}, "name"),
                        ({"name": "Bad", "theme": {"name": "neon"}}, "theme.name"),
                        ({"name": "Bad", "theme": {"accent": "red;}"}}, "theme.accent"),
                        ({"name": "Bad", "microsite_id": 0}, "microsite_id")):
        refused = owner.post(PRESETS, json=body)
        assert refused.status_code == 422, (body, refused.json)
        assert field in refused.json["error"]["fields"], (body, refused.json)
    # Custom CSS is a higher plan's: the free plan is told so, in words (not "allows 0").
    refused = owner.post(PRESETS, json={"name": "Styled", "custom_css": "p { color: red }"})
    assert refused.status_code == 402
    assert refused.json["error"]["message"].startswith(
        "Your Free plan does not include custom stylesheets. Upgrade: the Business plan "
        "includes them."), refused.json
    page = _page(owner)
    bad = owner.patch(f"/api/v1/microsites/{page['id']}", json={"theme_preset_id": 999999})
    assert bad.status_code == 422 and "theme_preset_id" in bad.json["error"]["fields"]


def test_presets_stay_in_their_workspace(api):
    owner, other = api(), api()
    preset = owner.post(PRESETS, json={"name": "Ours", "theme": LOOK}).json
    assert other.get(PRESETS).json["items"] == []
    theirs = _page(other)
    taken = other.patch(f"/api/v1/microsites/{theirs['id']}",
                        json={"theme_preset_id": preset["id"]})
    assert taken.status_code == 422
    mine = _page(owner)
    assert other.post(PRESETS, json={"name": "Copy", "microsite_id": mine["id"]}
                      ).status_code == 404


def test_the_look_tab_saves_uses_and_deletes_presets(client, create_user, login, api):
    user = create_user()
    login(user)
    owner = api(user)
    site = _page(owner, theme={"name": "sunset"})
    other = _page(owner, name="Bakery")
    look = f"/microsites/{site['id']}/look"
    token = csrf_token(client, look)
    refused = client.post(f"/microsites/{site['id']}/presets",
                          data={"csrf_token": token, "name": "  "})
    assert refused.status_code == 422
    assert 'id="preset-name-error"' in refused.get_data(as_text=True)
    saved = client.post(f"/microsites/{site['id']}/presets",
                        data={"csrf_token": token, "name": "Warm"})
    assert saved.status_code == 302
    preset = owner.get(PRESETS).json["items"][0]
    assert preset["name"] == "Warm" and preset["theme"] == {"name": "sunset"}
    assert "Warm" in client.get(f"/microsites/{other['id']}/look").get_data(as_text=True)
    used = client.post(f"/microsites/{other['id']}/presets/{preset['id']}/apply",
                       data={"csrf_token": token})
    assert used.status_code == 302
    assert owner.get(f"/api/v1/microsites/{other['id']}").json["theme"] == {"name": "sunset"}
    client.post(f"/microsites/{other['id']}/presets/{preset['id']}/delete",
                data={"csrf_token": token})
    assert owner.get(PRESETS).json["items"] == []


def test_a_new_page_can_start_from_a_preset(client, create_user, login, api):
    user = create_user()
    login(user)
    owner = api(user)
    assert "The template's own look" not in client.get("/microsites/new").get_data(as_text=True)
    preset = owner.post(PRESETS, json={"name": "Night", "theme": LOOK}).json
    form = client.get("/microsites/new").get_data(as_text=True)
    assert f'<option value="{preset["id"]}">Night</option>' in form
    token = csrf_token(client, "/microsites/new")
    made = client.post("/microsites/new", data={"csrf_token": token, "name": "Menu",
                                                "starter": "restaurant_menu",
                                                "theme_preset": str(preset["id"])})
    assert made.status_code == 302, made.get_data(as_text=True)[:500]
    site = owner.get("/api/v1/microsites").json["items"][0]
    assert site["name"] == "Menu" and site["theme"] == preset["theme"]
    assert len(site["blocks"]) > 1  # the template's blocks, the preset's look
    refused = client.post("/microsites/new", data={"csrf_token": token, "name": "Bad",
                                                   "starter": "restaurant_menu",
                                                   "theme_preset": "999999"})
    assert refused.status_code == 422 and 'id="theme_preset-error"' in refused.get_data(
        as_text=True)
