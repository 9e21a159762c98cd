"""The microsites API: create, validate, publish, serve, unpublish, versions, leads."""

import csv
import io
import re

from microsites.makers import PAGE
from qrplatform.events import outbox
from qrplatform.testing.pytest_plugin import set_plan


def _create(owner, **body):
    body.setdefault("name", "Café")
    body.setdefault("blocks", PAGE)
    response = owner.post("/api/v1/microsites", json=body)
    assert response.status_code == 201, response.json
    return response.json


def test_create_publish_and_serve(owner):
    site = _create(owner, theme={"name": "midnight"})
    assert site["status"] == "draft" and site["slug"] == "cafe"
    assert [b["type"] for b in site["blocks"]] == [b["type"] for b in PAGE]
    assert all(b["id"] for b in site["blocks"])
    assert owner.client.get("/m/cafe").status_code == 404   # not published yet

    published = owner.post(f"/api/v1/microsites/{site['id']}/publish").json
    assert published["status"] == "published"
    assert published["url"] == "http://localhost/m/cafe"
    page = owner.client.get("/m/cafe")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Café Lumière" in html and "Coffee &amp; cake" in html
    assert "<strong>every</strong>" in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in html and "style=" not in html
    # The page's own stylesheet, immutable, at the address the page names.
    css_href = re.search(r'href="(/m/cafe/site-[0-9a-f]+\.css)"', html).group(1)
    css = owner.client.get(css_href)
    assert css.status_code == 200 and "--ms-accent:#fbbf24" in css.get_data(as_text=True)
    # A second view is the same bytes (rendered once), and revalidates with its ETag.
    again = owner.client.get("/m/cafe", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304


def test_links_go_through_the_counted_redirect(owner):
    site = _create(owner)
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    html = owner.client.get(f"/m/{site['slug']}").get_data(as_text=True)
    link_id = site["blocks"][3]["id"]
    assert f'href="/m/{site["slug"]}/go/{link_id}.0"' in html
    assert "https://example.com/order" not in html
    response = owner.client.get(f"/m/{site['slug']}/go/{link_id}.0")
    assert response.status_code == 302 and response.location == "https://example.com/order"
    assert owner.client.get(f"/m/{site['slug']}/go/nope.0").status_code == 404


def test_contact_block_offers_a_vcard(owner):
    site = _create(owner)
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    contact_id = site["blocks"][4]["id"]
    card = owner.client.get(f"/m/{site['slug']}/f/{contact_id}/contact.vcf")
    assert card.status_code == 200 and card.mimetype == "text/vcard"
    text = card.get_data(as_text=True)
    assert "BEGIN:VCARD" in text and "FN:Ada Lovelace" in text and "TEL;" in text


def test_hostile_content_is_refused_or_cleaned(owner):
    refused = owner.post("/api/v1/microsites", json={"name": "x", "blocks": [
        {"type": "link", "label": "Click", "url": "javascript:alert(1)"},
        {"type": "link", "label": "Data", "url": "data:text/html,<script>alert(1)</script>"},
        {"type": "nope"},
        {"type": "heading"},
    ]})
    assert refused.status_code == 422
    fields = refused.json["error"]["fields"]
    assert set(fields) == {"blocks.0.url", "blocks.1.url", "blocks.2.type", "blocks.3.text"}

    site = _create(owner, name="Clean", blocks=[
        {"type": "text", "html": '<p onclick="x()">Hi<script>alert(1)</script>'
                                 '<a href="javascript:alert(1)">x</a><img src=x onerror=y></p>'},
        {"type": "heading", "text": "<img src=x onerror=alert(1)>"},
    ])
    text = site["blocks"][0]["html"]
    assert "script" not in text and "onclick" not in text and "javascript" not in text
    assert "<img" not in text
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    html = owner.client.get(f"/m/{site['slug']}").get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_input_limits(owner):
    too_many = owner.post("/api/v1/microsites", json={
        "name": "Big", "blocks": [{"type": "heading", "text": "x"}] * 101})
    assert too_many.status_code == 422
    long_text = owner.post("/api/v1/microsites", json={
        "name": "Long", "blocks": [{"type": "heading", "text": "x" * 201}]})
    assert long_text.status_code == 422 and "blocks.0.text" in long_text.json["error"]["fields"]
    not_a_list = owner.post("/api/v1/microsites", json={"name": "x", "blocks": "nope"})
    assert not_a_list.status_code == 422
    bad_theme = owner.post("/api/v1/microsites", json={"name": "x", "theme": {
        "name": "classic", "accent": "red"}})
    assert bad_theme.status_code == 422 and "theme.accent" in bad_theme.json["error"]["fields"]
    bad_slug = owner.post("/api/v1/microsites", json={"name": "x", "slug": "Not A Slug"})
    assert bad_slug.status_code == 422 and "slug" in bad_slug.json["error"]["fields"]


def test_slugs_are_unique_across_the_platform(owner, api):
    _create(owner, name="Menu", slug="menu")
    other = api()
    taken = other.post("/api/v1/microsites", json={"name": "Menu", "slug": "menu"})
    assert taken.status_code == 409 and taken.json["error"]["fields"] == {
        "slug": [taken.json["error"]["message"]]}
    assert _create(other, name="Menu")["slug"] != "menu"


def test_unpublish_takes_the_page_down_and_republish_replaces_it(owner):
    site = _create(owner)
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    assert owner.client.get("/m/cafe").status_code == 200
    owner.patch(f"/api/v1/microsites/{site['id']}", json={
        "blocks": [{"type": "heading", "text": "Second edition"}]})
    assert "Welcome" in owner.client.get("/m/cafe").get_data(as_text=True)  # still the old one
    assert owner.get(f"/api/v1/microsites/{site['id']}").json["has_unpublished_changes"]
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    assert "Second edition" in owner.client.get("/m/cafe").get_data(as_text=True)
    down = owner.post(f"/api/v1/microsites/{site['id']}/unpublish")
    assert down.json["status"] == "draft"
    gone = owner.client.get("/m/cafe")
    assert gone.status_code == 404 and "has not published this page" in gone.get_data(
        as_text=True)


def test_versions_and_restore(owner):
    site = _create(owner)
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    owner.patch(f"/api/v1/microsites/{site['id']}", json={
        "blocks": [{"type": "heading", "text": "Changed"}]})
    versions = owner.get(f"/api/v1/microsites/{site['id']}/versions").json
    kinds = [v["kind"] for v in versions]
    assert kinds == ["draft", "published", "draft"]
    first_published = next(v for v in versions if v["kind"] == "published")
    assert first_published["live"]
    restored = owner.post(f"/api/v1/microsites/{site['id']}/versions/"
                          f"{first_published['id']}/restore")
    assert restored.status_code == 200
    assert [b["type"] for b in restored.json["blocks"]] == [b["type"] for b in PAGE]
    assert owner.post(f"/api/v1/microsites/{site['id']}/versions/999999/restore"
                      ).status_code == 404


def test_password_protected_page(owner):
    site = _create(owner, password="open sesame")
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    client = owner.client
    locked = client.get("/m/cafe")
    assert locked.status_code == 200 and "Password needed" in locked.get_data(as_text=True)
    assert "Welcome" not in locked.get_data(as_text=True)
    assert client.get(f"/m/cafe/f/{site['blocks'][4]['id']}/contact.vcf").status_code == 403
    wrong = client.post("/m/cafe", data={"password": "nope"})
    assert wrong.status_code == 401
    right = client.post("/m/cafe", data={"password": "open sesame"})
    assert right.status_code == 303
    opened = client.get("/m/cafe")
    assert "Welcome" in opened.get_data(as_text=True)
    assert opened.headers["Cache-Control"] == "private, no-store"


def test_noindex_and_seo(owner):
    site = _create(owner, noindex=True, seo={"title": "Best café", "description": "Cake"})
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    page = owner.client.get("/m/cafe")
    html = page.get_data(as_text=True)
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "<title>Best café</title>" in html and 'og:description" content="Cake"' in html


def test_leads_honeypot_list_and_csv(owner):
    site = _create(owner)
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    form_id = site["blocks"][5]["id"]
    client = owner.client
    sent = client.post(f"/m/cafe/lead/{form_id}", data={
        "name": "=HYPERLINK(\"http://evil\")", "email": "grace@example.com",
        "message": "Table for 4?"})
    assert sent.status_code == 200 and "Thank you" in sent.get_data(as_text=True)
    spam = client.post(f"/m/cafe/lead/{form_id}", data={
        "name": "Bot", "email": "bot@example.com", "website_url": "http://spam"})
    assert spam.status_code == 200
    missing = client.post(f"/m/cafe/lead/{form_id}", data={"name": "No mail"})
    assert missing.status_code == 422
    assert client.post("/m/cafe/lead/nope", data={"name": "x"}).status_code == 404

    leads = owner.get(f"/api/v1/microsites/{site['id']}/leads").json
    assert leads["total"] == 1
    assert leads["items"][0]["data"]["email"] == "grace@example.com"
    export = owner.get(f"/api/v1/microsites/{site['id']}/leads/export")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0] == ["id", "received_at", "form", "name", "email", "message"]
    assert rows[1][3].startswith("'=")  # inert in a spreadsheet
    assert outbox.drain() >= 1


def test_quota_and_custom_css_by_plan(owner):
    for n in range(3):
        _create(owner, name=f"Page {n}")
    over = owner.post("/api/v1/microsites", json={"name": "Fourth"})
    assert over.status_code == 402 and over.json["error"]["code"] == "quota_exceeded"
    set_plan(owner.workspace_id, "business")
    site = _create(owner, name="Styled", custom_css="body { letter-spacing: 0.01em }")
    assert site["custom_css"]
    for css in ("@import url(https://evil.example/x.css);",
                "body { background: url(https://evil.example/x.png) }",
                "body { background: url(//evil.example/x.png) }"):
        refused = owner.patch(f"/api/v1/microsites/{site['id']}", json={"custom_css": css})
        assert refused.status_code == 422, css
        assert "custom_css" in refused.json["error"]["fields"]


def test_custom_css_needs_a_higher_plan(owner):
    refused = owner.post("/api/v1/microsites", json={"name": "x", "custom_css": "a{color:red}"})
    assert refused.status_code == 402


def test_block_types_and_themes_are_listed(owner):
    types = owner.get("/api/v1/microsites/block-types").json
    names = [t["type"] for t in types]
    for expected in ("heading", "text", "link", "image", "gallery", "profile", "social",
                     "contact", "wifi", "video", "map", "hours", "pdf", "divider",
                     "lead_form"):
        assert expected in names
    link = next(t for t in types if t["type"] == "link")
    assert "url" in link["fields"]["properties"]
    assert owner.get("/api/v1/microsites/themes").json["themes"][0]["name"] == "classic"


def test_video_loads_nothing_from_the_video_site_before_the_click(owner):
    site = _create(owner, name="Video", blocks=[
        {"type": "video", "url": "https://youtu.be/dQw4w9WgXcQ", "title": "Our kitchen"}])
    assert site["blocks"][0]["provider"] == "youtube"
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    html = owner.client.get(f"/m/{site['slug']}").get_data(as_text=True)
    assert "<iframe" not in html and "ytimg" not in html
    assert 'data-player="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?autoplay=1"' in html
    refused = owner.post("/api/v1/microsites", json={"name": "x", "blocks": [
        {"type": "video", "url": "https://evil.example/video", "title": "x"}]})
    assert refused.status_code == 422


def test_delete(owner):
    site = _create(owner)
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    assert owner.delete(f"/api/v1/microsites/{site['id']}").status_code == 204
    assert owner.client.get("/m/cafe").status_code == 404
    assert owner.get(f"/api/v1/microsites/{site['id']}").status_code == 404
