"""The QR pages as a signed-in person uses them."""

import io

from qrplatform.testing.pytest_plugin import csrf_token


def test_create_edit_list_duplicate_archive_through_the_pages(client, create_user, login):
    user = create_user()
    login(user)
    token = csrf_token(client, "/qr/new")
    form = {"csrf_token": token, "name": "Menu", "kind": "dynamic", "type": "url",
            "content-url-url": "https://example.com/menu", "foreground": "#1a237e",
            "background": "#ffffff", "module_style": "rounded", "eye_style": "rounded",
            "error_correction": "M", "quiet_zone": "4", "logo_size": "0.22", "frame": "box",
            "frame_text": "Scan me", "frame_color": "#1a237e", "redirect_status": "302",
            "design_template": "0", "tags": "menus, Floor 1", "save_template": "Brand"}
    created = client.post("/qr/new", data=form)
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    detail = client.get(created.headers["Location"])
    page = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "Menu" in page and "http://localhost/r/" in page

    listing = client.get("/qr/?q=menu&tag=floor 1&kind=dynamic")
    assert "Menu" in listing.get_data(as_text=True)
    fragment = client.get("/qr/?q=nothing-like-this", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="qr-list"')
    assert "No QR codes match" in fragment.get_data(as_text=True)

    designs = client.get("/qr/designs").get_data(as_text=True)
    assert "Brand" in designs

    code_id = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    bad = client.post(f"/qr/{code_id}/edit", data={**form, "content-url-url": "not a url",
                                                   "save_template": ""})
    assert bad.status_code == 422
    assert 'id="content-url-url-error"' in bad.get_data(as_text=True)
    # A label the files' faces cannot set: refused beside its field, the letters named.
    bad = client.post(f"/qr/{code_id}/edit", data={**form, "frame_text": "Menu \u0436",
                                                   "save_template": ""})
    assert bad.status_code == 422
    refused = bad.get_data(as_text=True)
    assert 'id="frame_text-error"' in refused and "has no &#39;\u0436&#39;" in refused
    good = client.post(f"/qr/{code_id}/edit", data={**form, "content-url-url":
                                                    "https://example.com/new",
                                                    "save_template": ""})
    assert good.status_code == 302
    assert client.get("/r/" + page.split("http://localhost/r/")[1][:8]).headers[
        "Location"] == "https://example.com/new"

    download = client.get(f"/qr/{code_id}/download?format=svg&size=800")
    assert download.mimetype == "image/svg+xml" and b"<path" in download.data

    duplicate = client.post(f"/qr/{code_id}/duplicate", data={"csrf_token": token})
    assert duplicate.status_code == 302 and "/edit" in duplicate.headers["Location"]
    archived = client.post(f"/qr/{code_id}/archive", data={"csrf_token": token})
    assert archived.status_code == 302
    assert "Restore" in client.get(f"/qr/{code_id}").get_data(as_text=True)


def test_live_preview_shows_the_code_or_why_it_would_not_scan(client, create_user, login):
    login(create_user())
    token = csrf_token(client, "/qr/new")
    base = {"type": "url", "kind": "static", "content-url-url": "https://example.com",
            "foreground": "#000000", "background": "#ffffff", "module_style": "square",
            "eye_style": "square", "error_correction": "M", "quiet_zone": "4",
            "frame": "none", "logo_size": "0.22"}
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    good = client.post("/qr/preview", data=base, headers=headers).get_data(as_text=True)
    assert "data:image/png;base64," in good and "this design scans" in good
    bad = client.post("/qr/preview", data={**base, "foreground": "#eeeeee"},
                      headers=headers).get_data(as_text=True)
    assert "would not scan" in bad and "contrast" in bad


def test_logo_upload_through_the_page(client, create_user, login):
    from PIL import Image

    login(create_user())
    token = csrf_token(client, "/qr/new")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 120, 200)).save(buffer, "PNG")
    response = client.post("/qr/logo", data={"logo_file": (io.BytesIO(buffer.getvalue()),
                                                           "l.png")},
                           headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    assert 'name="logo"' in response.get_data(as_text=True)
    not_image = client.post("/qr/logo", data={"logo_file": (io.BytesIO(b"hello"), "l.png")},
                            headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    # With the media library enabled the logo lands there, refused in its words.
    assert "not a PNG, JPEG, WebP, GIF, SVG or PDF" in not_image.get_data(as_text=True)


def test_a_code_page_links_to_its_insights_only_when_analytics_fills_the_slot(
        client, create_user, login, make_app):
    from qrp_qr import services
    from qrplatform.tenancy import tenant_scope

    user = create_user()
    with tenant_scope(user.personal_workspace_id):
        code = services.create_code({"kind": "dynamic", "type": "url",
                                     "content": {"url": "https://example.com/a"}})
    login(user)
    insights = f'href="/analytics/codes/{code.id}"'
    assert insights in client.get(f"/qr/{code.id}").get_data(as_text=True)

    qr_only = make_app(QRP_PLUGINS=["qr"]).test_client()
    qr_only.post("/login", data={"email": user.email, "password": "correct horse battery",
                                 "csrf_token": csrf_token(qr_only)})
    page = qr_only.get(f"/qr/{code.id}")
    assert page.status_code == 200 and code.name in page.get_data(as_text=True)
    assert "/analytics/" not in page.get_data(as_text=True)


def test_the_bulk_page_shows_an_unusable_template_beside_its_select(client, create_user, login,
                                                                     db):
    """A template saved under an older rule (a label the files cannot set) is refused with the
    file, the reason beside the Design select."""
    from qrp_qr.models import QRDesignTemplate
    from qrplatform.tenancy import unscoped

    user = create_user()
    login(user)
    form = {"csrf_token": csrf_token(client, "/qr/new"), "name": "Menu", "kind": "dynamic",
            "type": "url", "content-url-url": "https://example.com/menu",
            "foreground": "#000000", "background": "#ffffff", "module_style": "square",
            "eye_style": "square", "error_correction": "M", "quiet_zone": "4",
            "logo_size": "0.22", "frame": "box", "frame_text": "Menu", "frame_color": "#000000",
            "redirect_status": "302", "design_template": "0", "tags": "",
            "save_template": "Old"}
    assert client.post("/qr/new", data=form).status_code == 302
    with unscoped():
        template = db.session.query(QRDesignTemplate).filter_by(name="Old").one()
        template.design = {**template.design, "frame_text": "\u041c\u0435\u043d\u044e"}
        db.session.commit()
        template_id = template.id
    response = client.post("/qr/bulk", data={
        "csrf_token": csrf_token(client, "/qr/bulk"), "kind": "dynamic", "type": "url",
        "design_template": str(template_id),
        "file": (io.BytesIO(b"name,url,tags\nA,https://example.com/a,\n"), "codes.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="design_template-error"' in page and "Its design cannot be used" in page
