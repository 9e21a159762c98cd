"""What a hostile (or merely careless) file gets, case by case, through the real API: the type
is decided by the content, limits are checked before decoding, and what is stored is a fresh
encoding without metadata, scripts or smuggled payloads."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pikepdf
import pytest
from PIL import Image

from assets import files
from assets.conftest import upload


def stored(client, body) -> bytes:
    response = client.get(urlsplit(body["url"]).path)
    assert response.status_code == 200
    return response.data


def test_a_phone_photo_loses_its_gps_and_is_turned_upright(client, owner):
    response = upload(owner, files.phone_jpeg(80, 40, orientation=6), "IMG_0001.JPG")
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 40, 80)
    assert "EXIF metadata (with GPS position)" in body["removed"]
    image = Image.open(io.BytesIO(stored(client, body)))
    assert not image.getexif(), "no EXIF at all: no GPS, no camera, no orientation flag"
    assert "comment" not in image.info
    assert image.size == (40, 80)
    # Rotated 90° clockwise: the photo's red left half is now on top.
    assert image.convert("RGB").getpixel((20, 5))[0] > 200
    assert image.convert("RGB").getpixel((20, 75))[2] > 200


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_exif_is_stripped_from_png_and_webp_too(client, owner, fmt):
    response = upload(owner, files.exif_image(fmt), f"photo.{fmt.lower()}")
    assert response.status_code == 201, response.json
    image = Image.open(io.BytesIO(stored(client, response.json)))
    assert image.format == fmt and not image.getexif()


@pytest.mark.parametrize("make, payloads", [
    (files.png_polyglot, [files.HTML_PAYLOAD, files.ZIP_PAYLOAD]),
    (files.jpeg_polyglot, [files.HTML_PAYLOAD]),
    (files.gif_js_polyglot, [b"alert(document.cookie)"]),
    (files.pdf_zip_polyglot, [files.ZIP_PAYLOAD]),
])
def test_polyglots_are_re_encoded_without_their_payload(client, owner, make, payloads):
    response = upload(owner, make(), "innocent.png", "image/png")
    assert response.status_code == 201, response.json
    data = stored(client, response.json)
    for payload in payloads:
        assert payload not in data


def test_the_type_comes_from_the_content_not_the_name_or_header(client, owner):
    response = upload(owner, files.png(), "report.pdf", "application/pdf")
    assert response.status_code == 201
    assert response.json["content_type"] == "image/png"
    assert response.json["url"].endswith(".png")
    refused = upload(owner, b"hello, I am text", "photo.png", "image/png")
    assert refused.status_code == 422
    assert refused.json["error"]["fields"]["file"] == [
        "This file is not a PNG, JPEG, WebP, GIF, SVG or PDF (judged by its content, not its "
        "name)."]
    html = upload(owner, files.HTML_AS_SVG, "logo.svg", "image/svg+xml")
    assert html.status_code == 422
    assert "not SVG" in html.json["error"]["message"]


@pytest.mark.parametrize("make, message", [
    (files.png_bomb, "8000 x 8000 pixels (64 megapixels); at most 50 megapixels"),
    (files.gif_bomb, "1000 x 1000 pixels x 250 frames (250 megapixels)"),
    (files.truncated_jpeg, "damaged or truncated"),
    (lambda: files.SVG_BILLION_LAUGHS, "declares XML entities"),
    (lambda: files.SVG_EXTERNAL_ENTITY, "declares XML entities"),
    (files.svg_use_bomb, "use bomb"),
    (files.encrypted_pdf, "password-protected"),
])
def test_bombs_and_broken_files_are_refused_with_a_clear_message(client, owner, make,
                                                                 message):
    data = make()
    assert len(data) < 500_000, "small on disk: the danger is in what it unpacks to"
    response = upload(owner, data, "file")
    assert response.status_code == 422, response.json
    assert message in response.json["error"]["message"]
    assert response.json["error"]["fields"]["file"]
    assert owner.get("/api/v1/assets").json["total"] == 0


def test_pixel_limit_is_checked_before_decoding(make_app, api, client):
    """The limit is a setting; a bomb is refused from its header alone (no memory spent)."""
    import tracemalloc

    from qrp_assets import sanitize

    limits = sanitize.Limits(max_bytes=1 << 25, max_pixels=1_000_000, max_svg_bytes=1 << 20,
                             max_pdf_pages=10, max_frames=10)
    data = files.png_bomb(4000)  # 16 megapixels: 16 MB once decoded
    tracemalloc.start()
    with pytest.raises(sanitize.Refused, match="16 megapixels"):
        sanitize.make_safe(data, limits)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000


def test_svg_is_sanitised_and_served_so_it_cannot_run(client, owner):
    response = upload(owner, files.SVG_HOSTILE, "logo.svg", "image/svg+xml")
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["kind"], body["content_type"], body["width"], body["height"]) == (
        "svg", "image/svg+xml", 120, 60)
    served = client.get(urlsplit(body["url"]).path)
    text = served.data.decode()
    for active in ("<script", "onload", "onclick", "foreignObject", "iframe", "javascript:",
                   "tracker.example", "file:", "evil.example"):
        assert active not in text, active
    assert "<rect" in text and "<circle" in text, "the drawing itself survives"
    assert served.headers["Content-Security-Policy"] == "sandbox"
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert {"scripts", "event handlers", "embedded HTML (foreignObject)",
            "references to other files"} <= set(body["removed"])


def test_pdf_loses_javascript_attachments_actions_and_metadata(client, owner):
    response = upload(owner, files.hostile_pdf(), "menu.pdf", "application/pdf")
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["kind"], body["pages"]) == ("pdf", 2)
    data = stored(client, body)
    with pikepdf.open(io.BytesIO(data)) as document:
        assert "/OpenAction" not in document.Root
        assert "/Names" not in document.Root or "/JavaScript" not in document.Root.Names
        assert not document.attachments
        assert "/Info" not in document.trailer and "/Metadata" not in document.Root
        assert "/AA" not in document.pages[0].obj
        links = [a for a in document.pages[0].obj.get("/Annots", [])]
        assert [str(a.A.URI) for a in links] == ["https://example.com/menu"], \
            "the web link stays; the launch action goes"
        for obj in document.objects:
            if isinstance(obj, pikepdf.Dictionary):
                assert "/JS" not in obj and str(obj.get("/S", "")) not in (
                    "/JavaScript", "/Launch")
    assert b"Chef Secret" not in data and b"MZ\x90" not in data
    assert {"JavaScript", "embedded files", "an action on opening"} <= set(body["removed"])


def test_animated_gif_keeps_its_frames_without_its_comment(client, owner):
    response = upload(owner, files.animated_gif(3), "spinner.gif")
    assert response.status_code == 201, response.json
    image = Image.open(io.BytesIO(stored(client, response.json)))
    assert image.n_frames == 3 and "comment" not in image.info


def test_an_oversized_file_is_refused_before_it_is_read(make_app, api, client):
    from qrp_assets import sanitize

    limits = sanitize.Limits(max_bytes=1000, max_pixels=10**6, max_svg_bytes=500,
                             max_pdf_pages=1, max_frames=1)
    with pytest.raises(sanitize.Refused, match="at most 1 kB per file"):
        sanitize.make_safe(files.png(400, 400, "white") + b"\0" * 2000, limits)
    with pytest.raises(sanitize.Refused, match="2 pages; at most 1"):
        sanitize.make_safe(files.pdf(2), limits.__class__(10**6, 10**6, 500, 1, 1))
