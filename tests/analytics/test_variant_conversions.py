"""A/B split conversions: a variant whose destination is a published microsite counts the
people it sent who clicked there; one whose destination is a tracked link (another code's short
link) counts the people who reached it; any other destination shows scans only. Per variant,
on the code's analytics (API and page), once a person and day, and never across workspaces."""

from __future__ import annotations

from urllib.parse import urlsplit

from microsites.makers import PAGE, make_published_microsite

from .conftest import IPHONE, make_code


def _follow(client, location: str, ip: str):
    parts = urlsplit(location)
    return client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path,
                      headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": ip})


def _split_code(owner, site_url: str, tracked_url: str) -> dict:
    return make_code(owner, name="Split", variants=[
        {"id": "site", "name": "Microsite", "destination": site_url, "weight": 50},
        {"id": "link", "destination": tracked_url, "weight": 30},
        {"id": "web", "destination": "https://example.com/plain", "weight": 20}])


def test_conversions_per_variant_for_microsites_and_tracked_links(app, owner, stream):
    site = make_published_microsite(owner)
    click_path = f"{urlsplit(site['url']).path}/go/{site['blocks'][3]['id']}.0"
    tracked = make_code(owner, name="Tracked")
    code = _split_code(owner, site["url"], tracked["short_url"])

    sent = {"site": 0, "link": 0, "web": 0}
    converted = {"site": 0, "link": 0}
    for n in range(40):
        ip = f"198.51.100.{n + 1}"
        client = app.test_client()  # each person their own browser (cookies)
        scanned = client.get(f"/r/{code['short_code']}", headers={"User-Agent": IPHONE},
                             environ_base={"REMOTE_ADDR": ip})
        location = scanned.headers["Location"]
        if "/m/" in location:
            sent["site"] += 1
            assert "qrp_v=" in location and _follow(client, location, ip).status_code == 200
            if n % 2:  # every other one clicks, some twice: people count once
                for _ in range(1 + n % 3):
                    assert _follow(client, click_path, ip).status_code == 302
                converted["site"] += 1
        elif "/r/" in location:
            sent["link"] += 1
            assert _follow(client, location, ip).status_code in (301, 302, 307, 308)
            converted["link"] += 1
        else:
            sent["web"] += 1
            assert "qrp_v" not in location
    assert all(sent.values()) and converted["site"]
    stream.flush()

    body = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json
    variants = {v["id"]: v for v in body["variants"]}
    assert {k: v["scans"] for k, v in variants.items()} == sent
    assert {k: v["visitors"] for k, v in variants.items()} == sent
    assert (variants["site"]["tracked"], variants["link"]["tracked"],
            variants["web"]["tracked"]) == (True, True, False)
    assert variants["site"]["conversions"] == converted["site"]
    assert variants["link"]["conversions"] == converted["link"]
    assert variants["web"]["conversions"] is None and variants["web"]["conversion_rate"] is None
    assert variants["site"]["conversion_rate"] == round(
        100 * converted["site"] / sent["site"], 1)
    # The tracked link's own scans are its own too.
    assert owner.get(f"/api/v1/qr-codes/{tracked['id']}/analytics?range=7d"
                     ).json["totals"]["humans"] == sent["link"]

    # A click without the page's cookie (not sent by the split) is no conversion.
    assert app.test_client().get(click_path, headers={"User-Agent": IPHONE}).status_code == 302
    stream.flush()
    again = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json
    assert {v["id"]: v["conversions"] for v in again["variants"]} == {
        "site": converted["site"], "link": converted["link"], "web": None}


def test_a_replayed_click_counts_once_and_the_page_shows_the_variants(
        app, api, client, create_user, login):
    from qrp_analytics.ingest import ingest_clicks
    from qrplatform.events import make_event
    from qrplatform.tenancy import unscoped

    user = create_user()
    owner = api(user)
    site = make_published_microsite(owner)
    code = _split_code(owner, site["url"], "https://example.com/other")
    click = make_event("microsites.clicked", {
        "microsite_id": int(site["id"]), "slug": site["slug"], "classification": "human",
        "visitor_hash": "b" * 64, "via": f"{code['id']}.site"},
        workspace_id=owner.workspace_id)
    second = make_event("microsites.clicked", {**click.data, "block_id": "x"},
                        workspace_id=owner.workspace_id)
    bot = make_event("microsites.clicked", {**click.data, "classification": "bot",
                                            "visitor_hash": "c" * 64},
                     workspace_id=owner.workspace_id)
    forged = make_event("microsites.clicked", {**click.data, "via": "not-a-variant"},
                        workspace_id=owner.workspace_id)
    with unscoped():
        assert ingest_clicks([click, second, bot, forged]) == 1
        assert ingest_clicks([click]) == 0
    body = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json
    assert {v["id"]: v["conversions"] for v in body["variants"]} == {
        "site": 1, "link": None, "web": None}

    login(user)
    page = client.get(f"/analytics/codes/{code['id']}?range=7d").get_data(as_text=True)
    assert 'id="variants"' in page and 'data-variant="site"' in page
    row = page.split('data-variant="site"', 1)[1].split("</tr>", 1)[0]
    assert 'data-label="Conversions">1<' in row
    assert "not measured" in page.split('data-variant="link"', 1)[1].split("</tr>", 1)[0]


def test_another_workspaces_page_cannot_add_conversions(app, api, owner, stream):
    code = _split_code(owner, "http://localhost/m/somewhere", "https://example.com/x")
    stranger = api()
    site = make_published_microsite(stranger)
    client = app.test_client()
    path = urlsplit(site["url"]).path
    assert client.get(f"{path}?qrp_v={code['id']}.site",
                      headers={"User-Agent": IPHONE}).status_code == 200
    assert client.get(f"{path}/go/{site['blocks'][3]['id']}.0",
                      headers={"User-Agent": IPHONE}).status_code == 302
    stream.flush()
    variants = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json["variants"]
    assert {v["id"]: v["conversions"] for v in variants}["site"] == 0


def test_a_password_protected_microsite_counts_its_clicks_too(app, owner, stream):
    site = make_published_microsite(owner)
    assert owner.patch(f"/api/v1/microsites/{site['id']}",
                       json={"password": "open sesame"}).status_code == 200
    site = owner.post(f"/api/v1/microsites/{site['id']}/publish").json
    path = urlsplit(site["url"]).path
    code = _split_code(owner, site["url"], "https://example.com/other")
    converted = 0
    for n in range(30):
        ip = f"192.0.2.{n + 1}"
        client = app.test_client()
        location = client.get(f"/r/{code['short_code']}", headers={"User-Agent": IPHONE},
                              environ_base={"REMOTE_ADDR": ip}).headers["Location"]
        if "/m/" not in location:
            continue
        prompt = _follow(client, location, ip)
        assert prompt.status_code == 200 and "Password needed" in prompt.get_data(as_text=True)
        assert client.post(path, data={"password": "open sesame"}, headers={
            "User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": ip}).status_code == 303
        assert _follow(client, f"{path}/go/{site['blocks'][3]['id']}.0", ip).status_code == 302
        converted += 1
    assert converted
    stream.flush()
    variants = owner.get(f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json["variants"]
    assert {v["id"]: v["conversions"] for v in variants}["site"] == converted


def test_conversions_through_the_workspaces_own_domain(app, owner, stream):
    """Variants sent to the workspace's custom domain: the microsite at its root and a short
    link on it are tracked pages too (a domain of another workspace or the platform's static
    files are not)."""
    from qrplatform.testing.pytest_plugin import set_plan
    from tests.domains.makers import make_domain
    from tests.microsites.test_domains import _domain_name

    set_plan(owner.workspace_id, "business")
    host = _domain_name(owner, make_domain(owner))
    site = owner.post("/api/v1/microsites", json={"name": "Root", "blocks": PAGE,
                                                  "domain": host}).json
    site = owner.post(f"/api/v1/microsites/{site['id']}/publish").json
    assert site["url"] == f"https://{host}/"
    tracked = make_code(owner, name="On the domain", domain=host)
    assert tracked["short_url"].startswith(f"https://{host}/")
    code = make_code(owner, name="Split", variants=[
        {"id": "root", "destination": site["url"], "weight": 50},
        {"id": "link", "destination": tracked["short_url"], "weight": 40},
        {"id": "files", "destination": f"https://{host}/static/app.css", "weight": 10}])

    sent = {"root": 0, "link": 0, "files": 0}
    for n in range(30):
        ip = f"198.51.100.{n + 1}"
        client = app.test_client()
        location = client.get(f"/r/{code['short_code']}", headers={"User-Agent": IPHONE},
                              environ_base={"REMOTE_ADDR": ip}).headers["Location"]
        paths = {"/": "root", urlsplit(tracked["short_url"]).path: "link",
                 "/static/app.css": "files"}
        variant = paths[urlsplit(location).path]
        sent[variant] += 1
        if variant == "files":
            assert "qrp_v" not in location
            continue
        assert f"qrp_v={code['id']}.{variant}" in location
        parts = urlsplit(location)
        arrived = client.get(f"{parts.path}?{parts.query}", base_url=f"https://{host}",
                             headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": ip})
        if variant == "root":
            assert arrived.status_code == 200
            clicked = client.get(f"/m/{site['slug']}/go/{site['blocks'][3]['id']}.0",
                                 base_url=f"https://{host}", headers={"User-Agent": IPHONE},
                                 environ_base={"REMOTE_ADDR": ip})
            assert clicked.status_code == 302
        else:
            assert arrived.status_code in (301, 302, 307, 308)
    assert sent["root"] and sent["link"]
    stream.flush()
    variants = {v["id"]: v for v in owner.get(
        f"/api/v1/qr-codes/{code['id']}/analytics?range=7d").json["variants"]}
    assert {k: v["tracked"] for k, v in variants.items()} == {
        "root": True, "link": True, "files": False}
    assert {k: v["conversions"] for k, v in variants.items()} == {
        "root": sent["root"], "link": sent["link"], "files": None}
