"""A QR code's logo from the media library: picked by asset id, listed under "used by",
guarding the asset from deletion, following a replacement; and qr without the library."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from PIL import Image
from qr.conftest import decode_image

from assets import files
from assets.conftest import upload
from qrplatform.events import outbox
from qrplatform.testing.pytest_plugin import builtin_plugins


def png_of(client, code) -> Image.Image:
    return Image.open(io.BytesIO(client.get(urlsplit(code["image_url"]["png"]).path).data))


def make_code(owner, logo):
    return owner.post("/api/v1/qr-codes", json={
        "name": "Menu", "kind": "dynamic", "type": "url", "destination": "https://example.com",
        "design": {"logo": logo}})


def test_a_library_logo_is_used_listed_protected_and_replaced(client, db, owner):
    logo = upload(owner, files.png(200, 200, "#e11d48"), "Brand.png").json
    created = make_code(owner, logo["id"])
    assert created.status_code == 201, created.json
    code = created.json
    assert code["design"]["logo"] == logo["id"]
    assert code["design"]["error_correction"] == "H"
    image = png_of(client, code)
    assert decode_image(image) == [code["short_url"]]
    assert image.convert("RGB").getpixel((256, 256))[0] > 200, "the red logo in the middle"

    used_by = owner.get(f"/api/v1/assets/{logo['id']}").json["used_by"]
    assert used_by == [{"consumer": "qr.code", "ref_id": str(code["id"]),
                        "label": "QR code “Menu”", "href": f"/qr/{code['id']}"}]
    refused = owner.delete(f"/api/v1/assets/{logo['id']}")
    assert refused.status_code == 409 and refused.json["error"]["fields"]["used_by"] == [
        "QR code “Menu”"]

    owner.put(f"/api/v1/assets/{logo['id']}/file", data={
        "file": (io.BytesIO(files.png(200, 200, "#1d4ed8")), "blue.png")},
        content_type="multipart/form-data")
    outbox.drain()  # qr's receiver of assets.replaced draws the code again
    after = owner.get(f"/api/v1/qr-codes/{code['id']}").json
    assert after["image_url"]["png"] != code["image_url"]["png"], "the image follows the file"
    image = png_of(client, after)
    assert decode_image(image) == [code["short_url"]]
    assert image.convert("RGB").getpixel((256, 256))[2] > 200, "now the blue logo"

    renamed = owner.patch(f"/api/v1/qr-codes/{code['id']}", json={"name": "Lunch",
                                                                  "design": {"logo": None}})
    assert renamed.status_code == 200
    assert owner.get(f"/api/v1/assets/{logo['id']}").json["used_by"] == []
    assert owner.delete(f"/api/v1/assets/{logo['id']}").status_code == 204


def test_a_logo_must_be_a_picture_of_this_workspace(api, owner):
    menu = upload(owner, files.pdf(1), "menu.pdf").json
    pdf = make_code(owner, menu["id"])
    assert pdf.status_code == 422
    assert pdf.json["error"]["fields"]["design.logo"] == [
        "A PDF cannot be a logo; pick an image or SVG."]
    theirs = upload(api(), files.png(), "theirs.png").json
    foreign = make_code(owner, theirs["id"])
    assert foreign.status_code == 422
    assert "not in this workspace's library" in foreign.json["error"]["message"]


def test_an_svg_logo_is_drawn_into_the_code(client, owner):
    logo = upload(owner, files.SVG_PLAIN, "logo.svg").json
    code = make_code(owner, str(logo["id"])).json
    assert code["design"]["logo"] == logo["id"], "digits name the asset too"
    assert decode_image(png_of(client, code)) == [code["short_url"]]


def test_the_logo_upload_of_the_qr_api_lands_in_the_library(owner):
    response = owner.post("/api/v1/qr-codes/logos", data={
        "file": (io.BytesIO(files.phone_jpeg()), "logo.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 201
    assert isinstance(response.json["logo"], int)
    listed = owner.get("/api/v1/assets").json["items"]
    assert [a["id"] for a in listed] == [response.json["logo"]]


def test_qr_keeps_its_own_logo_upload_without_the_library(make_app, db, create_user):
    from qrplatform.auth import services as accounts

    app = make_app(QRP_PLUGINS=[p for p in builtin_plugins() if p != "assets"])
    user = create_user()
    _, token = accounts.create_token(user, user.personal_workspace_id, "t")
    client, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/assets", headers=auth).status_code == 404
    logo = client.post("/api/v1/qr-codes/logos", headers=auth, data={
        "file": (io.BytesIO(files.png(100, 100)), "l.png")}, content_type="multipart/form-data")
    assert logo.status_code == 201 and logo.json["logo"].startswith("c/")
    body = {"kind": "dynamic", "type": "url", "destination": "https://example.com"}
    made = client.post("/api/v1/qr-codes", headers=auth,
                       json={**body, "design": {"logo": logo.json["logo"]}})
    assert made.status_code == 201, made.json
    by_id = client.post("/api/v1/qr-codes", headers=auth, json={**body, "design": {"logo": 5}})
    assert by_id.status_code == 422
    assert "media library, which is not enabled" in by_id.json["error"]["message"]


def test_an_svg_logo_sized_in_millimetres_is_drawn(client, owner):
    uploaded = upload(owner, files.SVG_MM, "print-logo.svg")
    assert uploaded.status_code == 201, uploaded.json
    logo = uploaded.json
    # 30 x 15 mm at 96 CSS pixels to the inch
    assert (logo["width"], logo["height"]) == (113, 57)
    code = make_code(owner, logo["id"]).json
    image = png_of(client, code)
    assert decode_image(image) == [code["short_url"]]
    red, _green, blue = image.convert("RGB").getpixel((256, 256))
    assert blue > 150 and red < 80, "the blue logo in the middle"
