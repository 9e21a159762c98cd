"""Every type decodes to its exact payload; every design option renders in every format and
decodes; bad designs are refused with a reason."""

import io
import itertools
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from qrp_qr import render
from tests.qr.conftest import decode_image, rasterize

# (type, content, the exact text a phone must read)
TYPES = [
    ("url", {"url": "https://example.com/menu?table=4"}, "https://example.com/menu?table=4"),
    ("text", {"text": "Café ☕ — naïve, multi\nline"}, "Café ☕ — naïve, multi\nline"),
    ("email", {"email": "hello@example.com", "subject": "Hi there", "body": "A & B"},
     "mailto:hello@example.com?subject=Hi%20there&body=A%20%26%20B"),
    ("phone", {"phone": "+44 20 7946-0000"}, "tel:+442079460000"),
    ("sms", {"phone": "+1 (555) 010-9999", "message": "STOP: now"},
     "SMSTO:+15550109999:STOP: now"),
    ("wifi", {"ssid": 'Café;"Guest"', "security": "WPA", "password": "pa:ss,word\\1",
              "hidden": True},
     'WIFI:T:WPA;S:Café\\;\\"Guest\\";P:pa\\:ss\\,word\\\\1;H:true;;'),
    ("wifi", {"ssid": "Open Lounge", "security": "nopass"}, "WIFI:T:nopass;S:Open Lounge;;"),
    ("wifi", {"ssid": "Old", "security": "WEP", "password": "abcde"},
     "WIFI:T:WEP;S:Old;P:abcde;;"),
    ("vcard", {"first_name": "Ada", "last_name": "Lovelace", "organization": "Engines, Ltd",
               "mobile": "+44 7700 900123", "email": "ada@example.com",
               "website": "https://ada.example", "city": "London", "country": "UK"},
     "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\nFN:Ada Lovelace\r\n"
     "ORG:Engines\\, Ltd\r\nTEL;TYPE=CELL:+447700900123\r\nEMAIL;TYPE=INTERNET:ada@example.com"
     "\r\nURL:https://ada.example\r\nADR;TYPE=WORK:;;;London;;;UK\r\nEND:VCARD"),
    ("geo", {"latitude": 51.5007, "longitude": -0.1246}, "geo:51.5007,-0.1246"),
    ("event", {"title": "Launch; party", "start": "2026-12-01T18:00:00+01:00",
               "end": "2026-12-01T22:30:00+01:00", "location": "Hall 2"},
     "BEGIN:VEVENT\r\nSUMMARY:Launch\\; party\r\nDTSTART:20261201T170000Z\r\n"
     "DTEND:20261201T213000Z\r\nLOCATION:Hall 2\r\nEND:VEVENT"),
]


def fetch(client, url: str) -> bytes:
    path = url.split("http://localhost", 1)[-1]
    response = client.get(path)
    assert response.status_code == 200, (url, response.status_code)
    assert "immutable" in response.headers["Cache-Control"]
    return response.data


@pytest.mark.parametrize(("qr_type", "content", "expected"), TYPES,
                         ids=[f"{t[0]}-{i}" for i, t in enumerate(TYPES)])
def test_every_type_decodes_to_its_exact_payload(api, client, qr_type, content, expected):
    caller = api()
    response = caller.post("/api/v1/qr-codes", json={"type": qr_type, "content": content})
    assert response.status_code == 201, response.json
    code = response.json
    assert code["kind"] == "static" and code["type"] == qr_type
    for fmt in ("png", "svg", "pdf"):
        image = rasterize(fetch(client, code["image_url"][fmt]), fmt)
        assert decode_image(image) == [expected], fmt


def test_dynamic_code_encodes_its_short_link(api, client):
    caller = api()
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/a"})
    assert response.status_code == 201, response.json
    code = response.json
    assert code["short_url"] == f"http://localhost/r/{code['short_code']}"
    assert code["destination"] == "https://example.com/a"
    assert len(code["short_code"]) == 8 and code["short_code"].isalnum()
    image = rasterize(fetch(client, code["image_url"]["png"]), "png")
    assert decode_image(image) == [code["short_url"]]


@pytest.mark.parametrize(("qr_type", "content", "field"), [
    ("url", {"url": "example.com"}, "content.url"),
    ("wifi", {"ssid": "Home", "security": "WPA", "password": "short"}, "content.password"),
    ("wifi", {"ssid": "Open", "security": "nopass", "password": "secret123"},
     "content.password"),
    ("geo", {"latitude": 95, "longitude": 0}, "content.latitude"),
    ("event", {"title": "x", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T09:00:00Z"},
     "content.end"),
    ("vcard", {"email": "ada@example.com"}, "content.first_name"),
    ("email", {"email": "not an address"}, "content.email"),
])
def test_invalid_content_is_refused_field_by_field(api, qr_type, content, field):
    response = api().post("/api/v1/qr-codes", json={"type": qr_type, "content": content})
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json


def test_wifi_cannot_be_dynamic(api):
    response = api().post("/api/v1/qr-codes", json={
        "type": "wifi", "kind": "dynamic", "content": {"ssid": "x", "security": "nopass"}})
    assert response.status_code == 422
    assert "static" in response.json["error"]["fields"]["kind"][0]


@pytest.fixture
def logo_key(api):
    """A logo uploaded through the API (a red square with a transparent corner)."""
    image = Image.new("RGBA", (300, 300), (200, 30, 30, 255))
    image.paste((0, 0, 0, 0), (0, 0, 60, 60))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    caller = api()
    response = caller.post("/api/v1/qr-codes/logos",
                           data={"file": (io.BytesIO(buffer.getvalue()), "logo.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return caller, response.json["logo"]


DESIGNS = [
    {"module_style": m, "eye_style": e, "frame": f}
    for m, e, f in itertools.product(render.MODULE_STYLES, render.EYE_STYLES, render.FRAMES)
]


def test_every_design_option_renders_in_every_format_and_decodes(logo_key, client):
    caller, logo = logo_key
    designs = [*DESIGNS,
               {"foreground": "#1a237e", "background": "#fff8e1", "eye_color": "#b71c1c",
                "quiet_zone": 2, "error_correction": "Q"},
               {"logo": logo, "logo_size": 0.3, "module_style": "rounded", "frame": "box",
                "frame_text": "Menu", "frame_color": "#004d40"},
               {"logo": logo, "module_style": "dots", "eye_style": "circle"},
               {"error_correction": "L", "quiet_zone": 0}]
    for design in designs:
        response = caller.post("/api/v1/qr-codes", json={
            "type": "url", "content": {"url": "https://example.com/d"}, "design": design})
        assert response.status_code == 201, (design, response.json)
        code = response.json
        if design.get("logo"):
            assert code["design"]["error_correction"] == "H"
        for fmt in ("png", "svg", "pdf"):
            data = fetch(client, code["image_url"][fmt])
            assert decode_image(rasterize(data, fmt)) == ["https://example.com/d"], (design, fmt)
        # Any size within limits, in every format.
        for fmt, size in (("png", 1500), ("svg", 200), ("pdf", 2000)):
            image = caller.get(f"/api/v1/qr-codes/{code['id']}/image?format={fmt}&size={size}")
            assert image.status_code == 200, image.json
            data = fetch(client, image.json["url"])
            picture = rasterize(data, fmt)
            if fmt == "png":
                assert picture.width == size
            assert decode_image(picture) == ["https://example.com/d"], (design, fmt, size)


def test_svg_is_true_vectors_and_pdf_is_vector(api, client):
    code = api().post("/api/v1/qr-codes", json={
        "type": "text", "content": {"text": "vectors"}}).json
    svg = fetch(client, code["image_url"]["svg"]).decode()
    assert "<path" in svg and "<image" not in svg and "base64" not in svg
    pdf = fetch(client, code["image_url"]["pdf"])
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf


@pytest.mark.parametrize(("design", "field", "words"), [
    ({"foreground": "#777777", "background": "#999999"}, "design.foreground", "contrast"),
    ({"foreground": "#ffffff", "background": "#000000"}, "design.foreground", "lighter"),
    ({"foreground": "#000000", "eye_color": "#eeeeee"}, "design.eye_color", "contrast"),
    ({"background": "#cccccc", "foreground": "#000000", "eye_color": "#ffffff"},
     "design.eye_color", "lighter"),
    ({"foreground": "#fdd835"}, "design.foreground", "contrast"),
])
def test_low_contrast_or_inverted_designs_are_refused(api, design, field, words):
    response = api().post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://example.com"}, "design": design})
    assert response.status_code == 422, response.json
    message = response.json["error"]["fields"][field][0]
    assert words in message and ("Darken" in message or "dark colour" in message)


def test_a_design_that_does_not_decode_is_refused_with_advice(api):
    # A dark frame right against the code (no quiet zone) hides the finder patterns.
    response = api().post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://example.com/d"},
        "design": {"quiet_zone": 0, "frame": "box"}})
    assert response.status_code == 422, response.json
    message = " ".join(response.json["error"]["fields"]["design"])
    assert "cannot read" in message and "widen the quiet zone" in message
    # The same design with a quiet zone is accepted.
    response = api().post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://example.com/d"},
        "design": {"quiet_zone": 2, "frame": "box"}})
    assert response.status_code == 201, response.json


def test_too_much_content_is_refused(api):
    response = api().post("/api/v1/qr-codes", json={
        "type": "text", "content": {"text": "é" * 1999}, "design": {"error_correction": "H"}})
    assert response.status_code == 422
    assert "Too much content" in response.json["error"]["message"]


def test_image_size_limits(api):
    caller = api()
    code = caller.post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://example.com"}}).json
    too_big = caller.get(f"/api/v1/qr-codes/{code['id']}/image?format=png&size=9000")
    assert too_big.status_code == 422 and "size" in too_big.json["error"]["fields"]
    too_small = caller.get(f"/api/v1/qr-codes/{code['id']}/image?format=png&size=10")
    assert too_small.status_code == 422


def _logo(colors: str) -> Image.Image:
    """A flat square logo, or one shaded in thousands of colours."""
    if colors == "flat":
        return Image.new("RGBA", (128, 128), (220, 60, 20, 255))
    gradient = Image.linear_gradient("L").resize((128, 128))
    return Image.merge("RGBA", (gradient, gradient.rotate(90), gradient.rotate(180),
                                Image.new("L", (128, 128), 255)))


@pytest.mark.parametrize("colors", ["flat", "shaded"])
def test_a_styled_png_keeps_every_pixel_of_the_picture(colors):
    """Smooth edges between a few flat colours (at most 256) make a palette PNG, a shaded logo a
    full-colour one; either way the file holds exactly the picture that was checked."""
    design = {"module_style": "rounded", "eye_style": "rounded", "frame": "box",
              "frame_text": "Scan me", "foreground": "#1a237e", "logo": "c/x/l.png"}
    picture = render.render_image(render.layout("https://example.com/p", design,
                                                _logo(colors)), render.DEFAULT_SIZE)
    count = len(picture.getcolors(1 << 20))
    stored = Image.open(io.BytesIO(render.encode_png(picture)))
    if colors == "flat":
        assert 2 < count <= 256 and stored.mode == "P"
    else:
        assert count > 256 and stored.mode == "RGB"
    assert stored.convert("RGB").tobytes() == picture.tobytes()


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (7, 3), (513, 590)])
def test_a_full_colour_png_decodes_to_the_very_pixels_written(mode, size):
    """The full-colour PNG (rows deflated by ISA-L in a container pypng writes) is a valid
    file that any decoder reads back pixel for pixel, in every mode drawn and at odd sizes:
    noise, which no compression can flatter."""
    noise = Image.frombytes(mode, size, random.Random(f"{mode}{size}").randbytes(
        size[0] * size[1] * len(mode)))
    stored = Image.open(io.BytesIO(render._full_colour_png(noise)))
    stored.load()
    assert (stored.format, stored.mode, stored.size) == ("PNG", mode, size)
    assert stored.tobytes() == noise.tobytes()


@pytest.mark.parametrize("colours", [2, 200])
@pytest.mark.parametrize("size", [(1, 1), (7, 3), (513, 590)])
def test_a_palette_png_decodes_to_the_very_pixels_written(colours, size):
    """Noise of two colours (one bit a pixel, rows not a whole number of bytes wide) or of
    two hundred (a byte a pixel) becomes a palette PNG holding exactly the picture."""
    chance = random.Random(f"{colours}{size}")
    palette = [bytes(chance.randbytes(3)) for _ in range(colours)]
    if colours == 2:
        palette[1] = bytes(255 - channel for channel in palette[0])  # two distinct greys
    picture = Image.frombytes("RGB", size, b"".join(
        chance.choice(palette) for _ in range(size[0] * size[1])))
    data = render.encode_png(picture)
    stored = Image.open(io.BytesIO(data))
    stored.load()
    assert (stored.format, stored.mode, stored.size) == ("PNG", "P", size)
    assert stored.convert("RGB").tobytes() == picture.tobytes()
    bit_depth = data[24]   # the header chunk's, after the signature, length, type and size
    assert bit_depth == (1 if len(picture.getcolors()) == 2 else 8)


@pytest.mark.parametrize("extra_pixels", [0, 5])
def test_neighbouring_rounded_modules_join_without_a_seam(extra_pixels):
    """Each module is stamped from one smooth drawing; where two dark modules meet, the ink
    runs on at full strength (the cells' shared edge is not drawn twice half-dark)."""
    lay = render.layout("https://example.com/seam", {"module_style": "rounded"})
    scale = 12
    target = lay.n * scale - extra_pixels        # 5 pixels short: the grid is resized too
    mask = render._module_mask(lay, target)
    per_module = target / lay.n
    pairs = [(row, col) for row in range(9, lay.n - 9) for col in range(9, lay.n - 9)
             if lay.modules[row][col] and lay.modules[row][col + 1]]
    assert pairs
    for row, col in pairs:
        middle = round((row + 0.5) * per_module)
        edge = (col + 1) * per_module
        across = [mask.getpixel((x, middle)) for x in range(round(edge) - 2, round(edge) + 2)]
        assert min(across) >= 250, (row, col, across)


@pytest.mark.parametrize("frame", ["none", "box"])
def test_touching_rounded_modules_show_no_seam_in_the_pdf(frame):
    """The PDF fills its rounded modules a row at a time (one fill a module before); where two
    touch across rows, a viewer smoothing each fill's edge of their shared side showed a light
    line between them. Drawn by PDFium (Chrome's viewer) at two zooms, the ink runs on across
    every shared side, in a row and across rows, as in the PNG."""
    from qrp_qr import verify

    lay = render.layout("https://example.com/seam", {"module_style": "rounded",
                                                     "frame": frame})
    pdf = render.render_pdf(lay, render.DEFAULT_SIZE)
    for width in (render.DEFAULT_SIZE, 2 * render.DEFAULT_SIZE):
        drawn = verify.rasterise(pdf, "pdf", width)
        px, o, dark = width / lay.width, lay.code_origin, lay.modules
        sides = [(o + x + 1, o + y + 0.5, 1, 0) for y, x in itertools.product(
            range(lay.n), range(lay.n - 1)) if dark[y][x] and dark[y][x + 1]]
        sides += [(o + x + 0.5, o + y + 1, 0, 1) for y, x in itertools.product(
            range(lay.n - 1), range(lay.n)) if dark[y][x] and dark[y + 1][x]]
        assert len(sides) > 50
        for x, y, across_x, across_y in sides:     # the pixels either side of the shared side
            greys = [drawn.getpixel((round(x * px) - step * across_x,
                                     round(y * px) - step * across_y)) for step in (1, 0)]
            assert max(greys) <= 8, (width, x, y, greys)


def _drawn(lay: render.Layout, fmt: str, width: int) -> Image.Image:
    """The picture, or the SVG or PDF as a viewer draws it, in grey. The SVG's label is drawn
    in Bitstream Vera Sans Bold (shipped with ReportLab), as wide as DejaVu, the sans a viewer
    with neither Helvetica nor Arial falls back to."""
    import pypdfium2
    import reportlab
    import resvg_py

    if fmt == "png":
        return render.render_image(lay, width).convert("L")
    if fmt == "svg":
        vera = str(Path(reportlab.__file__).parent / "fonts" / "VeraBd.ttf")
        png = resvg_py.svg_to_bytes(svg_string=render.render_svg(lay, width).decode(),
                                    width=width, background="#ffffff", skip_system_fonts=True,
                                    font_files=[vera], sans_serif_family="Bitstream Vera Sans")
        return Image.open(io.BytesIO(bytes(png))).convert("L")
    page = pypdfium2.PdfDocument(render.render_pdf(lay, width))[0]
    return page.render(scale=width / page.get_size()[0], grayscale=True).to_pil().convert("L")


@pytest.mark.parametrize("text", ["Scan me", "Scan for 10% off your next ord", "W" * 30])
@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_a_frame_label_of_any_allowed_length_stays_inside_the_frame(text, fmt):
    """A label up to the 30 characters allowed is set smaller when it would not fit (it ran
    off both sides of the frame): in every format, in a large picture and in the smallest one
    allowed (where the PNG's 8-pixel minimum ran it off too), its letters stay clear of the
    frame's sides, and a short one keeps its size."""
    lay = render.layout("https://qr.example/r/abc1234", {"frame": "box", "frame_text": text,
                                                         "foreground": "#1a237e"})
    side = lay.width - 2 * render.FRAME_BORDER
    label_band = lay.height - lay.width
    _cx, baseline, size, _color, _text = lay.text
    assert size == pytest.approx(label_band / 2 if text == "Scan me"
                                 else render.LABEL_WIDTH * side / render._label_ems(text))
    for width in (600, render.min_size(lay)):
        px = width / lay.width
        drawn = _drawn(lay, fmt, width)
        # The band from a border below the code's white square down to the baseline: white
        # letters on the dark frame, clear of the band's rounded bottom corners.
        rows = range(round(lay.width * px), round(baseline * px))
        letters = [x for y in rows for x in range(width) if drawn.getpixel((x, y)) > 128]
        assert letters or width < 600, "the label is drawn"
        edge = max(1, round(render.FRAME_BORDER * px))
        assert all(edge <= x < width - edge for x in letters), (width, min(letters),
                                                                 max(letters))


def test_the_png_label_face_has_every_character_a_label_may_hold():
    """Every printable character of Windows-1252 (what the PDF's Helvetica Bold sets, and what
    a label may hold) is a letter of the PNG's face, not its empty box: Pillow's own face, used
    before, had not even "ü"."""
    face = render._font(48)

    def drawn(character: str) -> bytes:
        picture = Image.new("L", (64, 64))
        ImageDraw.Draw(picture).text((8, 8), character, font=face, fill=255)
        return picture.tobytes()

    missing_box = drawn("\u4e00")                    # a character no Western face has
    allowed = [character for character in map(chr, range(0x2200)) if render._settable(character)]
    assert len(allowed) > 200
    assert [c for c in allowed if c != " " and drawn(c) == missing_box] == []


@pytest.mark.parametrize(("text", "named"), [
    ("\u0421\u043a\u0430\u043d \u043c\u0435\u043d\u044e",        # Russian: five named
     "'\u0421' '\u043a' '\u0430' '\u043d' '\u043c'"),
    ("扫码点餐", "'扫' '码' '点' '餐'"), ("Menu 🙂", "'🙂'"), ("Menu\tlist", "U+0009")])
def test_a_label_with_characters_the_files_cannot_set_is_refused(api, text, named):
    """Refused beside the field, naming the characters (the first five), rather than drawn as
    empty boxes in the PNG and the PDF."""
    response = api().post("/api/v1/qr-codes", json={
        "type": "url", "content": {"url": "https://example.com"},
        "design": {"frame": "box", "frame_text": text}})
    assert response.status_code == 422, response.json
    message = response.json["error"]["fields"]["design"]["frame_text"][0]
    assert f"has no {named}:" in message and "Western European" in message


def test_the_svg_check_draws_the_embedded_logo():
    """ThorVG draws the file as a viewer would, its embedded logo included: an opaque picture
    laid over the modules hides them from the check, as it would from a phone."""
    import base64

    from qrp_qr import verify

    payload = "https://example.com/covered"
    lay = render.layout(payload, {"module_style": "rounded"})
    svg = render.render_svg(lay, render.DEFAULT_SIZE)
    verify.check_export(payload, svg, "svg", {}, lay.width)
    white = io.BytesIO()
    Image.new("RGB", (8, 8), "#ffffff").save(white, "PNG")
    cover = (f'<image x="0" y="0" width="{lay.width:g}" height="{lay.width:g}" '
             f'xlink:href="data:image/png;base64,{base64.b64encode(white.getvalue()).decode()}"/>')
    covered = svg.replace(b"</svg>", cover.encode() + b"</svg>")
    with pytest.raises(verify.Unscannable, match="SVG file does not decode"):
        verify.check_export(payload, covered, "svg", {}, lay.width)


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_an_export_is_drawn_at_each_scale_until_one_decodes(monkeypatch, fmt):
    """The check draws the file at two pixels a module, and at three and four only when that
    does not decode: a good file costs one drawing, a file that never decodes is refused
    after all three. A large code beside a big logo whose PDF a decoder missed at three
    pixels a module alone (and read at two and four) now passes."""
    from qrp_qr import verify

    payload = ("https://qr.example/r/0jh0gag0e5f6db6d2h154e53eb62c4ck02gfb145346ah61khb3kh8d3f0fc"
               "63kb1910b94fgggf566g542h8682eff2k9f2g0b3dfkjk66gfcg0a72gj6a0j374h93g778d97064a71"
               "chg7ch9d40")
    design = {"module_style": "dots", "eye_style": "circle", "frame": "box",
              "frame_text": "Scan me", "quiet_zone": 1, "error_correction": "M",
              "foreground": "#1a237e", "logo": "x", "logo_size": 0.3}
    logo = Image.new("RGBA", (200, 200), (20, 120, 200, 255))
    lay = render.layout(payload, design, logo)
    data = render.render(lay, fmt, render.DEFAULT_SIZE)
    widths = []
    rasterise = verify.rasterise
    monkeypatch.setattr(verify, "rasterise", lambda data, fmt, width: (
        widths.append(width) or rasterise(data, fmt, width)))
    verify.check_export(payload, data, fmt, design, lay.width)
    assert widths[0] == round(lay.width * 2)
    widths.clear()
    with pytest.raises(verify.Unscannable, match=r"does not decode|something else"):
        verify.check_export(payload + "x", data, fmt, design, lay.width)
    assert widths == [round(lay.width * pixels) for pixels in (2, 3, 4)]


@pytest.mark.parametrize("palette", ["as drawn", "swapped"])
def test_a_two_colour_picture_is_read_split_between_its_own_colours(palette):
    """A plain picture is read from its palette indexes, split between its two colours with no
    threshold guessed, in whichever order the palette holds them; the blurred read sees the
    picture's own grey levels, exactly what converting each pixel gives; and light modules on
    a dark ground are refused as a camera without inverted reading would."""
    from qrp_qr import verify

    payload = "https://example.com/two-tone"
    lay = render.layout(payload, {"foreground": "#1a237e", "background": "#fff8e1"})
    picture = render.render_image(lay, render.DEFAULT_SIZE)
    assert picture.mode == "P" and len(picture.getpalette()) == 6
    if palette == "swapped":    # the same picture, its palette entries in the other order
        swapped = picture.point([1, 0] + [0] * 254)
        swapped.putpalette(picture.getpalette()[3:] + picture.getpalette()[:3])
        assert swapped.convert("RGB").tobytes() == picture.convert("RGB").tobytes()
        picture = swapped
    split, levels = verify._two_tone(picture)
    assert set(split.flatten().tolist()) == {0, 255}
    assert Image.fromarray(split).point(levels).tobytes() == picture.convert("L").tobytes()
    assert verify.check_decodes(payload, picture, {}, lay.width).decoded == payload

    inverted = picture.copy()
    inverted.putpalette(picture.getpalette()[3:] + picture.getpalette()[:3])
    with pytest.raises(verify.Unscannable, match="cannot read"):
        verify.check_decodes(payload, inverted, {}, lay.width)


def test_a_picture_found_only_in_a_smaller_copy_still_passes():
    """zxing-cpp is asked first for the picture at its own size (searching its smaller copies
    too is two fifths of a framed code's read); a picture it finds only in a smaller copy is
    read again with them, so no design a full search reads is refused."""
    from qrp_qr import verify

    payload = "https://example.com/fhafb"
    design = {"module_style": "dots", "eye_style": "rounded", "frame": "box", "quiet_zone": 2,
              "error_correction": "H", "foreground": "#1a237e", "logo": "c/x/l.png",
              "logo_size": 0.3, "frame_text": "Scan me"}
    lay = render.layout(payload, design, Image.new("RGBA", (256, 256), (20, 120, 60, 255)))
    picture = render.render_image(lay, render.DEFAULT_SIZE)
    assert payload not in verify.decode(picture.convert("L"), downscale=False)
    assert payload in verify.decode(picture.convert("L"))
    assert verify.check_decodes(payload, picture, design, lay.width).decoded == payload


def test_codes_of_one_design_share_its_ground_and_no_other_design_does():
    """The background, frame and label are drawn once per design and size and copied for each
    code: a second code gets the same frame, a design with another frame colour or label gets
    its own, and a picture too large to keep is drawn afresh."""
    def grounds() -> list[tuple]:
        return [key for key in render._SHARED_BY_DESIGN if "ground" in key]

    render._SHARED_BY_DESIGN.clear()
    design = {"module_style": "rounded", "frame": "box", "frame_text": "Menu",
              "frame_color": "#b71c1c"}
    first = render.render_image(render.layout("https://example.com/1", design), 512)
    kept = grounds()
    second = render.render_image(render.layout("https://example.com/2", design), 512)
    assert grounds() == kept and len(kept) == 1
    assert first.getpixel((2, 300)) == second.getpixel((2, 300)) == (0xb7, 0x1c, 0x1c)
    assert first.tobytes() != second.tobytes()      # the modules differ, on a copy each time
    blue = render.render_image(render.layout("https://example.com/1", {
        **design, "frame_color": "#0d47a1", "frame_text": "Order"}), 512)
    assert blue.getpixel((2, 300)) == (0x0d, 0x47, 0xa1)
    assert len(grounds()) == 2
    big = render.render_image(render.layout("https://example.com/1", design), 2000)
    assert big.getpixel((8, 1000)) == (0xb7, 0x1c, 0x1c)
    assert len(grounds()) == 2


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1e30])
def test_a_drawing_never_writes_a_number_off_any_page(value):
    """A painter bug fails loudly rather than writing such a number: the SVG check's ThorVG
    crashed the process on one."""
    with pytest.raises(ValueError, match="out of any page"):
        render._num(value)
