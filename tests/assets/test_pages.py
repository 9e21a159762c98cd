"""The library pages through the test client: the grid, one asset's page, the one-file upload
the drop zone sends, rename and tag, replace, delete refused while in use, and the picker."""

from __future__ import annotations

import io

from assets import files
from assets.conftest import upload
from qrplatform.tenancy import tenant_scope
from qrplatform.testing.pytest_plugin import csrf_token


def test_library_grid_search_and_usage(client, login, create_user, api):
    user = create_user(name="Ada Lovelace")
    owner = api(user)
    upload(owner, files.png(300, 200), "Summer banner.png", tags=["summer"])
    upload(owner, files.pdf(2), "Menu.pdf")
    login(user)
    page = client.get("/assets/").get_data(as_text=True)
    assert "Summer banner" in page and "Menu" in page
    assert "300\u00d7200" in page and "2 pages" in page and "Ada Lovelace" in page
    assert "Storage" in page and "of 100 MB" in page and "Files" in page
    found = client.get("/assets/?q=summ", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Summer banner" in found and "Menu" not in found
    assert "<html" not in found, "an htmx request gets the fragment only"
    assert "Menu" in client.get("/assets/?type=pdf").get_data(as_text=True)


def test_upload_from_the_drop_zone_answers_a_card_or_the_reason(client, login, create_user):
    user = create_user()
    login(user)
    token = csrf_token(client, "/assets/")
    sent = client.post("/assets/upload", data={"file": (io.BytesIO(files.png()), "logo.png")},
                       headers={"X-CSRFToken": token, "HX-Request": "true"},
                       content_type="multipart/form-data")
    assert sent.status_code == 201
    assert 'class="asset-card"' in sent.get_data(as_text=True)
    bomb = client.post("/assets/upload", data={"file": (io.BytesIO(files.png_bomb()), "x.png")},
                       headers={"X-CSRFToken": token, "HX-Request": "true"},
                       content_type="multipart/form-data")
    assert bomb.status_code == 422
    assert "decompression bomb" in bomb.get_data(as_text=True)


def test_rename_replace_and_delete_from_the_asset_page(client, db, login, create_user, api):
    from qrp_assets import services

    user = create_user()
    owner = api(user)
    asset = upload(owner, files.png(), "logo.png").json
    login(user)
    path = f"/assets/{asset['id']}"
    token = csrf_token(client, path)
    saved = client.post(path, data={"csrf_token": token, "name": "Brand mark",
                                    "tags": "brand, Logo"})
    assert saved.status_code == 302
    assert owner.get(f"/api/v1/assets/{asset['id']}").json["tags"] == ["brand", "logo"]
    replaced = client.post(f"{path}/replace", data={
        "csrf_token": token, "file": (io.BytesIO(files.png(20, 20, "black")), "new.png")},
        content_type="multipart/form-data")
    assert replaced.status_code == 302
    assert owner.get(f"/api/v1/assets/{asset['id']}").json["version"] == 2
    refused = client.post(f"{path}/replace", data={
        "csrf_token": token, "file": (io.BytesIO(b"not an image"), "x.png")},
        content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "not a PNG, JPEG" in refused.get_data(as_text=True)
    with tenant_scope(owner.workspace_id):
        services.set_usage("qr.code", 3, [asset["id"]], label="QR code “Menu”", href="/qr/3")
        db.session.commit()
    kept = client.post(f"{path}/delete", data={"csrf_token": token}, follow_redirects=True)
    page = kept.get_data(as_text=True)
    assert "in use by QR code “Menu”" in page and 'href="/qr/3"' in page
    with tenant_scope(owner.workspace_id):
        services.set_usage("qr.code", 3, [], label="")
        db.session.commit()
    gone = client.post(f"{path}/delete", data={"csrf_token": token})
    assert gone.status_code == 302 and gone.headers["Location"].endswith("/assets/")
    assert owner.get(f"/api/v1/assets/{asset['id']}").status_code == 404


def test_the_picker_offers_pictures_only(client, login, create_user, api):
    user = create_user()
    owner = api(user)
    upload(owner, files.png(), "logo.png")
    upload(owner, files.pdf(1), "menu.pdf")
    login(user)
    picker = client.get("/assets/picker", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-asset-name="logo"' in picker and "menu" not in picker
