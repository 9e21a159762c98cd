"""SVG and PDF at a physical size: the page, trim and bleed boxes and the metadata a print shop
reads, crop marks, ranges refused with the one error shape, and the download menu's form."""

import io
import re

import pymupdf
import pytest
from PIL import Image

from qrp_qr import render
from tests.qr.conftest import decode_image, rasterize

MM = 72 / 25.4   # points per millimetre


def image(caller, code_id, **query):
    response = caller.get(f"/api/v1/qr-codes/{code_id}/image", query_string=query)
    return response


def fetch(client, url: str) -> bytes:
    response = client.get(url.split("http://localhost", 1)[-1])
    assert response.status_code == 200, url
    return response.data


@pytest.fixture
def code(api):
    caller = api()
    body = caller.post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://example.com/print"},
        "design": {"frame": "box", "module_style": "rounded"}}).json
    return caller, body


def test_pdf_at_a_physical_size_carries_it_in_its_boxes_and_metadata(code, client):
    caller, body = code
    response = image(caller, body["id"], format="pdf", width=2, unit="in", bleed=0.125)
    assert response.status_code == 200, response.json
    info = response.json["print"]
    assert info["width_mm"] == pytest.approx(50.8) and info["bleed_mm"] == pytest.approx(3.175)
    assert info["crop_marks"] is True and "scans from up to" in info["advice"]
    document = pymupdf.open(stream=fetch(client, response.json["url"]), filetype="pdf")
    page = document[0]
    trim, bleed, media = page.trimbox, page.bleedbox, page.mediabox
    assert trim.width == pytest.approx(50.8 * MM, abs=0.01)
    assert trim.height == pytest.approx(info["height_mm"] * MM, abs=0.01)
    assert trim.height > trim.width          # the frame's label makes it taller
    assert bleed.width == pytest.approx((50.8 + 2 * 3.175) * MM, abs=0.01)
    assert media.width == pytest.approx(info["page_width_mm"] * MM, abs=0.01)
    assert media.width > bleed.width          # room for the crop marks
    keywords = dict(pair.split("=") for pair in document.metadata["keywords"].split("; "))
    assert float(keywords["trim_width_mm"]) == pytest.approx(50.8)
    assert float(keywords["bleed_mm"]) == pytest.approx(3.175)
    assert "50.8 x" in document.metadata["subject"]
    assert (document.metadata["title"], document.metadata["creator"],
            document.metadata["author"]) == ("QR code", "QR Platform", "")  # no "anonymous"
    # Crop marks: strokes outside the bleed box, on the trim's lines.
    strokes = [d for d in page.get_drawings() if d["type"] == "s"]
    assert len(strokes) == 8
    for drawing in strokes:
        rect = drawing["rect"]
        assert not rect.intersects(bleed) or rect.width == 0 or rect.height == 0
    assert decode_image(rasterize(document.tobytes(), "pdf")) == [body["short_url"]
                                                                   or "https://example.com/print"]


def test_svg_at_a_physical_size_has_millimetre_width_and_height(code, client):
    caller, body = code
    response = image(caller, body["id"], format="svg", width=40, bleed=0, crop_marks="false")
    assert response.status_code == 200, response.json
    svg = fetch(client, response.json["url"]).decode()
    width = float(re.search(r'<svg[^>]* width="([\d.]+)mm"', svg).group(1))
    height = float(re.search(r'<svg[^>]* height="([\d.]+)mm"', svg).group(1))
    assert width == pytest.approx(40)        # no bleed, no marks: the page is the trim
    assert height == pytest.approx(response.json["print"]["height_mm"], abs=0.01)
    assert "stroke=" not in svg
    page = pymupdf.open(stream=svg.encode(), filetype="svg")[0]
    assert page.rect.width == pytest.approx(40 * MM, abs=0.1)
    assert decode_image(rasterize(svg.encode(), "svg")) == ["https://example.com/print"]

    marked = image(caller, body["id"], format="svg", width=40)
    svg = fetch(client, marked.json["url"]).decode()
    assert re.search(r'<svg[^>]* width="([\d.]+)mm"', svg).group(1) == \
        f"{marked.json['print']['page_width_mm']:g}"
    assert marked.json["print"]["page_width_mm"] == pytest.approx(40 + 2 * (3 + 5))
    assert 'stroke="#000000"' in svg


@pytest.mark.parametrize(("query", "field"), [
    ({"format": "png", "width": 50}, "format"),
    ({"format": "pdf", "width": 5}, "width"),
    ({"format": "pdf", "width": 5001}, "width"),
    ({"format": "pdf", "width": 200, "unit": "in"}, "width"),   # 5080 mm
    ({"format": "svg", "width": 50, "bleed": 11}, "bleed"),
    ({"format": "svg", "width": 50, "bleed": -1}, "bleed"),
    ({"format": "svg", "width": "wide"}, "width"),
    ({"format": "svg", "width": 50, "unit": "cm"}, "unit"),
    ({"format": "svg", "width": "nan"}, "width"),
])
def test_print_sizes_out_of_range_are_refused(code, query, field):
    caller, body = code
    response = image(caller, body["id"], **query)
    assert response.status_code == 422, response.json
    assert set(response.json["error"]) >= {"status", "code", "message", "fields"}
    assert field in response.json["error"]["fields"], response.json


def test_the_range_a_refusal_names_in_inches_is_accepted():
    """The limits said in inches lie inside the millimetre ones (0.39 in would be 9.9 mm)."""
    with pytest.raises(render.PrintSizeInvalid) as refused:
        render.PrintSize.parse(0.3, "in", bleed=1)
    assert refused.value.fields == {"width": ["Ask for 0.4 to 196.85 in wide."],
                                    "bleed": ["Ask for a bleed of 0 to 0.39 in."]}
    for unit, limits in render.print_ranges().items():
        render.PrintSize.parse(limits["min"], unit, limits["bleed_max"])
        render.PrintSize.parse(limits["max"], unit, limits["bleed"])


def test_print_parameters_are_in_the_openapi_document(client):
    operation = client.get("/api/openapi.json").json["paths"][
        "/api/v1/qr-codes/{code_id}/image"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"width", "unit", "bleed", "crop_marks"} <= names


def test_the_download_menu_prints_at_a_size(client, create_user, login, api):
    user = create_user()
    login(user)
    from qrplatform.testing.pytest_plugin import csrf_token

    token = csrf_token(client, "/qr/new")
    created = client.post("/qr/new", data={
        "csrf_token": token, "name": "Flyer", "kind": "static", "type": "url",
        "content-url-url": "https://example.com/flyer", "foreground": "#000000",
        "background": "#ffffff", "module_style": "square", "eye_style": "square",
        "error_correction": "M", "quiet_zone": "4", "logo_size": "0.22", "frame": "none",
        "frame_text": "", "redirect_status": "302", "design_template": "0", "tags": ""})
    assert created.status_code == 302
    detail = created.headers["Location"]
    page = client.get(detail).get_data(as_text=True)
    assert 'class="qr-download-print"' in page and 'name="bleed"' in page
    code_id = detail.rstrip("/").rsplit("/", 1)[-1]
    pdf = client.get(f"/qr/{code_id}/download?format=pdf&width=30&unit=mm&bleed=2"
                     "&crop_marks=true")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert 'filename="Flyer-30mm.pdf"' in pdf.headers["Content-Disposition"]
    trim = pymupdf.open(stream=pdf.data, filetype="pdf")[0].trimbox
    assert trim.width == pytest.approx(30 * MM, abs=0.01)
    refused = client.get(f"/qr/{code_id}/download?format=pdf&width=1&unit=mm")
    assert refused.status_code == 302
    assert "10 to 5000 mm" in client.get(detail).get_data(as_text=True)


# -- every SVG and PDF is decoded before it is stored (ThorVG, PDFium) ----------------------------

@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_a_broken_vector_export_is_refused_and_not_stored(code, monkeypatch, fmt):
    from qrp_qr import render

    caller, body = code
    real = render.PAINTERS[fmt]

    def broken(lay, size, paper=None):   # a painter that loses the modules
        data = real(lay, size, paper) if paper else real(lay, size)
        return data.replace(b"#000000", b"#ffffff") if fmt == "svg" else data[:len(data) // 2]

    monkeypatch.setitem(render.PAINTERS, fmt, broken)
    for query in ({"size": 700}, {"width": 45}):
        response = image(caller, body["id"], format=fmt, **query)
        assert response.status_code == 422, response.json
        message = response.json["error"]["fields"]["format"][0]
        assert fmt.upper() in message and "not saved" in message
    monkeypatch.setitem(render.PAINTERS, fmt, real)
    assert image(caller, body["id"], format=fmt, size=700).status_code == 200


@pytest.mark.parametrize(("broken", "reason"), [
    (lambda svg: svg[:len(svg) // 2], "not well-formed XML"),      # ThorVG itself crashed on it
    (lambda svg: b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "no usable size"),
    (lambda svg: b"%PDF-1.4 not an SVG", "not well-formed XML"),
])
def test_a_broken_svg_is_refused_saying_why(broken, reason):
    from qrp_qr import render, verify

    lay = render.layout("https://qr.example/r/broken", {"module_style": "rounded"})
    svg = broken(render.render_svg(lay, render.DEFAULT_SIZE))
    with pytest.raises(verify.Unscannable, match=f"The SVG file is broken: it .*{reason}"):
        verify.check_export("https://qr.example/r/broken", svg, "svg", {}, lay.width)


@pytest.mark.parametrize(("payload", "design"), [
    ("https://qr.example/r/a", {}),
    ("https://example.com/" + "x" * 300, {}),
    ("https://example.com/" + "y" * 1200, {"quiet_zone": 0, "error_correction": "H"}),
])
@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_a_plain_export_is_checked_at_one_pixel_a_module_each_drawn_exactly(
        monkeypatch, fmt, payload, design):
    """A plain code's file is drawn for its check at one pixel a module (the renderers' time
    grows with the pixels): every module is then drawn exactly, so the check sees all the file
    holds."""
    from qrp_qr import render, verify

    lay = render.layout(payload, design)
    data = render.render(lay, fmt, render.DEFAULT_SIZE)
    widths = []
    rasterise = verify.rasterise
    monkeypatch.setattr(verify, "rasterise", lambda data, fmt, width: (
        widths.append(width) or rasterise(data, fmt, width)))
    verify.check_export(payload, data, fmt, design, lay.width, on_grid=render.is_plain(lay))
    [width] = widths
    modules = int(lay.width)
    assert width == modules
    grid = Image.new("L", (modules, modules), 255)
    origin = int(lay.code_origin)
    for x, y in lay.dark:
        grid.putpixel((origin + x, origin + y), 0)
    drawn = rasterise(data, fmt, width).point(lambda grey: 255 if grey > 127 else 0)
    assert drawn.tobytes() == grid.tobytes()


def test_the_bulk_drawing_refuses_a_broken_export(monkeypatch):
    from qrp_qr import drawing, render

    class Memory:
        def __init__(self):
            self.files = {}

        def put(self, key, data, content_type, immutable):
            self.files[key] = data

    items = [drawing.Item(i, f"https://qr.example/r/bulk{i}", (f"{i}.png", f"{i}.svg",
                                                               f"{i}.pdf")) for i in range(3)]
    backend = Memory()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as uploads:
        good = drawing.draw_chunk(items, {}, None, backend, uploads)
        assert [d.error for d in good] == [None] * 3 and len(backend.files) == 9
        monkeypatch.setattr(render, "render_pdf", lambda lay, size: b"%PDF-1.4 truncated")
        backend.files.clear()
        bad = drawing.draw_chunk(items, {}, None, backend, uploads)
    assert all("PDF file is broken" in d.error for d in bad) and backend.files == {}


def test_the_bulk_drawing_keeps_each_code_in_its_place_when_some_cannot_be_made():
    """Codes go through each step in groups (``drawing.GROUP``): one that cannot be made drops
    out of its group's later steps, the others are made, and every result is in its place."""
    from qrp_qr import drawing

    class Memory:
        def __init__(self):
            self.files = {}

        def put(self, key, data, content_type, immutable):
            self.files[key] = data

    texts = [f"https://qr.example/r/group{i}" for i in range(drawing.GROUP + 3)]
    texts[2] = texts[drawing.GROUP + 1] = "https://example.com/" + "x" * 5000   # too long
    items = [drawing.Item(i, text, (f"{i}.png", f"{i}.svg", f"{i}.pdf"))
             for i, text in enumerate(texts)]
    backend = Memory()
    drawn = drawing.draw_chunk(items, {"module_style": "rounded"}, None, backend, None)
    assert [d.index for d in drawn] == list(range(len(texts)))
    assert [i for i, d in enumerate(drawn) if d.error] == [2, drawing.GROUP + 1]
    made = [i for i, d in enumerate(drawn) if not d.error]
    assert sorted(backend.files) == sorted(f"{i}.{fmt}" for i in made for fmt in render.FORMATS)
    for i in made:
        assert decode_image(Image.open(io.BytesIO(drawn[i].png))) == [texts[i]]
        assert drawn[i].grade


@pytest.mark.parametrize("module_style", render.MODULE_STYLES)
def test_the_export_check_passes_every_file_of_a_design_whose_png_passes(module_style):
    """A styled SVG or PDF is drawn for its check at two, three or four pixels a module
    (``verify.EXPORT_PIXELS_PER_MODULE``, until one decodes), which must never refuse the file
    of a design the PNG check lets through: every eye style, frame, logo, quiet zone and error
    correction, short and long content. (At two pixels alone, dots and circle eyes beside a
    logo failed.)"""
    import itertools
    import random

    from qrp_qr import verify

    logo = Image.new("RGBA", (300, 120), (0, 0, 0, 0))   # a wide logo, transparent at its ends
    logo.paste((200, 30, 30, 255), (20, 0, 280, 120))
    texts = random.Random(module_style)
    checked = 0
    for eye, frame, logo_size, quiet, correction, length in itertools.product(
            render.EYE_STYLES, render.FRAMES, (0, 0.25), (1, 4), ("M", "H"), (6, 60)):
        design = {"module_style": module_style, "eye_style": eye, "frame": frame,
                  "frame_text": "Scan me" if frame == "box" else "", "quiet_zone": quiet,
                  "error_correction": correction, "foreground": "#1a237e",
                  **({"logo": "x", "logo_size": logo_size} if logo_size else {})}
        payload = "https://qr.example/r/" + "".join(texts.choices("abcdefghjk0123456789",
                                                                  k=length))
        lay = render.layout(payload, design, logo)
        try:
            verify.check_decodes(payload, render.render_image(lay, render.DEFAULT_SIZE),
                                 design, lay.width)
        except verify.Unscannable:
            continue
        for fmt in render.PRINT_FORMATS:
            data = render.render(lay, fmt, render.DEFAULT_SIZE)
            verify.check_export(payload, data, fmt, design, lay.width,
                                on_grid=render.is_plain(lay))
        checked += 1
    assert checked >= 90    # of 96: a design the PNG check refuses is not this test's

