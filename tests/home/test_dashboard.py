"""The home dashboard: each card comes from the plugin that owns its data (scans from
analytics, codes from qr, activity from teams), through the core's home.cards slot."""

from __future__ import annotations

import re

from qrplatform.events import outbox
from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token

from .makers import GOOGLEBOT, make_code, scan


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _section(html: str, section_id: str) -> str:
    start = html.index(f'id="{section_id}"')
    return _text(html[start:html.index("</section>", start)])


def test_a_new_members_home_says_what_to_do_first(client, create_user, login):
    login(create_user())
    html = client.get("/dashboard").get_data(as_text=True)
    assert "No QR codes yet" in _section(html, "home-codes")
    assert 'href="/qr/new"' in html  # quick create
    assert "No scans in the last 7 days yet" in _section(html, "home-top-codes")
    scans = _section(html, "home-scans")
    assert "Today 0" in scans and "nothing yesterday to compare with" in scans


def test_scans_top_codes_codes_and_activity(app, client, api, create_user, login):
    user = create_user(name="Ada Lovelace")
    owner = api(user)
    menu = make_code(owner, name="Restaurant menu")
    poster = make_code(owner, name="Concert poster")
    for i in range(3):
        scan(client, menu, ip=f"203.0.113.{i}")
    scan(client, poster)
    scan(client, poster, agent=GOOGLEBOT)
    assert app.extensions["qrp.stream"].flush() == 5
    outbox.drain()
    login(user)
    html = client.get("/dashboard").get_data(as_text=True)
    scans = _section(html, "home-scans")
    assert "Today 4" in scans and "Last 7 days 4" in scans
    assert "1 bot, link-preview and HEAD visits today are counted apart" in scans
    assert "Restaurant menu 3 scans by people Concert poster 1 scans by people" in \
        _section(html, "home-top-codes")
    codes = _section(html, "home-codes")
    assert codes.index("Concert poster") < codes.index("Restaurant menu")  # newest first
    activity = _section(html, "home-activity")
    assert "Concert poster" in activity and "Ada Lovelace" in activity


def test_a_viewer_sees_no_audit_log_card(client, api, create_user, login, db):
    from qrplatform.auth.models import Membership

    owner = api(create_user())
    viewer = create_user()
    db.session.add(Membership(user_id=viewer.id, workspace_id=owner.workspace_id,
                              role="viewer"))
    db.session.commit()
    login(viewer)
    client.post("/workspaces/switch", data={"workspace_id": owner.workspace_id,
                                            "csrf_token": csrf_token(client, "/dashboard")})
    html = client.get("/dashboard").get_data(as_text=True)
    assert 'id="home-activity"' not in html
    assert 'id="home-scans"' in html


def test_with_no_plugin_the_home_lists_nothing_it_cannot_do(make_app, db, create_user):
    bare = make_app(QRP_PLUGINS=[])
    user = create_user()
    visitor = bare.test_client()
    page = visitor.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    visitor.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                 "csrf_token": token})
    html = visitor.get("/dashboard").get_data(as_text=True)
    assert "home-scans" not in html and "home-codes" not in html


def test_quick_create_turns_a_link_into_a_dynamic_code(client, api, create_user, login):
    user = create_user()
    caller = api(user)
    login(user)
    html = client.get("/dashboard").get_data(as_text=True)
    form = html[html.index('class="quick-create-form"'):]
    form = form[:form.index("</form>")]
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    fields.update({"content-url-url": "https://example.com/table-7", "name": "Table 7"})
    response = client.post("/qr/new", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    code = caller.get("/api/v1/qr-codes").json["items"][0]
    assert (code["name"], code["kind"], code["destination"]) == (
        "Table 7", "dynamic", "https://example.com/table-7")
    assert response.headers["Location"].endswith(f"/qr/{code['id']}")
    # A link that is not one opens the editor with the message beside the field.
    fields["content-url-url"] = "not a link"
    refused = client.post("/qr/new", data=fields)
    assert refused.status_code == 422 and "not a link" in refused.get_data(as_text=True)
