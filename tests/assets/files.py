"""Real files for the assets tests, friendly and hostile, made the way tools and attackers make
them (Pillow, reportlab, pikepdf, zlib, plain bytes)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def png(width: int = 64, height: int = 48, color="#e11d48", **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG", **save)
    return buffer.getvalue()


def gps_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: camera, orientation and the GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    return exif


def phone_jpeg(width: int = 80, height: int = 40, orientation: int = 6) -> bytes:
    """A phone photo: landscape pixels, EXIF saying "rotate 90°" and where it was taken. The
    left half is red, so the rotation is visible in the pixels."""
    image = Image.new("RGB", (width, height), "blue")
    image.paste("red", (0, 0, width // 2, height))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=gps_exif(orientation), quality=95,
               comment=b"shot at home")
    return buffer.getvalue()


def exif_image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(buffer, fmt, exif=gps_exif())
    return buffer.getvalue()


def animated_gif(frames: int = 3, size: int = 32) -> bytes:
    colours = ["red", "green", "blue", "yellow"]
    images = [Image.new("RGB", (size, size), colours[i % 4]) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100,
                   loop=0, comment=b"made by someone")
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(side: int = 8000) -> bytes:
    """A valid grey PNG of side x side pixels whose zeros compress to a few tens of kB."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body)
            + _chunk(b"IEND", b""))


def gif_bomb(frames: int = 250, side: int = 1000) -> bytes:
    """Many large, blank frames: tiny on disk, billions of pixels to decode."""
    images = [Image.new("P", (side, side), i % 2) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


HTML_PAYLOAD = b"<html><script>alert(document.domain)</script></html>"
ZIP_PAYLOAD = b"PK\x03\x04" + b"\x00" * 26 + b"evil.exe"


def png_polyglot() -> bytes:
    """A PNG that is also an HTML page and a ZIP archive (payloads after IEND)."""
    return png() + HTML_PAYLOAD + ZIP_PAYLOAD


def jpeg_polyglot() -> bytes:
    """A JPEG with an HTML page in its comment segment."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(buffer, "JPEG", comment=HTML_PAYLOAD)
    return buffer.getvalue()


def gif_js_polyglot() -> bytes:
    """A GIF that a browser also runs as JavaScript (the classic GIFAR-style trick): the
    header's dimensions spell a comment opener and the script hides after the trailer."""
    image = Image.new("P", (10, 10), 0)
    buffer = io.BytesIO()
    image.save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:8] = b"/*"  # width 0x2a2f = 10799 pixels
    return bytes(data) + b"*/=1;alert(document.cookie);//"


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((200, 200), 60).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


SVG_HOSTILE = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="120" height="60" viewBox="0 0 120 60" onload="alert(1)">
  <script>alert(document.cookie)</script>
  <rect width="120" height="60" fill="#0a7" onclick="alert(2)"/>
  <foreignObject width="100" height="50"><body xmlns="http://www.w3.org/1999/xhtml">
    <iframe src="javascript:alert(3)"></iframe></body></foreignObject>
  <a xlink:href="javascript:alert(4)"><circle cx="30" cy="30" r="10" fill="#fff"/></a>
  <image href="https://tracker.example/pixel.png" width="1" height="1"/>
  <image href="file:///etc/passwd" width="1" height="1"/>
  <use xlink:href="https://evil.example/sprite.svg#icon"/>
</svg>"""

SVG_BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE svg [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&lol4;</text></svg>"""

SVG_EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&secret;</text></svg>"""


def svg_use_bomb(levels: int = 8, fan_out: int = 10) -> bytes:
    """Each level draws the previous one ten times: 10^8 shapes from a 2 kB file."""
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">',
             '<defs><rect id="l0" width="1" height="1"/>']
    for level in range(1, levels + 1):
        uses = "".join(f'<use xlink:href="#l{level - 1}"/>' for _ in range(fan_out))
        parts.append(f'<g id="l{level}">{uses}</g>')
    parts.append(f'</defs><use xlink:href="#l{levels}"/></svg>')
    return "".join(parts).encode()


SVG_PLAIN = (b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" '
             b'viewBox="0 0 200 100"><rect width="200" height="100" fill="#1d4ed8"/>'
             b'<circle cx="100" cy="50" r="30" fill="#fbbf24"/></svg>')
# Sized in millimetres, as print tools export (Illustrator, Inkscape): 30 x 15 mm.
SVG_MM = (b'<svg xmlns="http://www.w3.org/2000/svg" width="30mm" height="15mm" '
          b'viewBox="0 0 20 10"><rect width="20" height="10" fill="#1d4ed8"/></svg>')
HTML_AS_SVG = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def pdf(pages: int = 2, text: str = "Menu of the day") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer, pagesize=A4)
    drawing.setAuthor("Chef Secret")
    for page in range(pages):
        drawing.setFont("Helvetica", 28)
        drawing.drawString(72, 700, f"{text} — page {page + 1}")
        drawing.rect(72, 400, 300, 200, fill=1)
        drawing.linkURL("https://example.com/menu", (72, 650, 300, 690))
        drawing.showPage()
    drawing.save()
    return buffer.getvalue()


def hostile_pdf() -> bytes:
    """A brochure that runs JavaScript on opening, carries an attached executable, a page
    action, a launch action in a link, an XMP packet and its author's name."""
    import pikepdf

    document = pikepdf.open(io.BytesIO(pdf()))
    document.Root.OpenAction = pikepdf.Dictionary(
        S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('pwned')"))
    document.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([
        pikepdf.String("init"),
        pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("this.exportDataObject()")),
    ])))
    document.attachments["invoice.exe"] = pikepdf.AttachedFileSpec(document, b"MZ\x90\x00evil")
    page = document.pages[0]
    page.obj.AA = pikepdf.Dictionary(O=pikepdf.Dictionary(
        S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('page')")))
    launch = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link,
                                Rect=pikepdf.Array([0, 0, 100, 100]),
                                A=pikepdf.Dictionary(S=pikepdf.Name.Launch,
                                                     F=pikepdf.String("cmd.exe")))
    page.obj.Annots = pikepdf.Array([*page.obj.get("/Annots", []), document.make_indirect(launch)])
    with document.open_metadata() as meta:
        meta["dc:creator"] = ["Chef Secret"]
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    import pikepdf

    document = pikepdf.open(io.BytesIO(pdf(1)))
    out = io.BytesIO()
    document.save(out, encryption=pikepdf.Encryption(user="open sesame", owner="owner"))
    return out.getvalue()


def pdf_zip_polyglot() -> bytes:
    """A PDF with a ZIP archive appended after %%EOF (readers of either format accept it)."""
    return pdf(1) + ZIP_PAYLOAD
