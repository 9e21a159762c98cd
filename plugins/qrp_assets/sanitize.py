"""What an uploaded file really is, and a copy of it that is safe to serve.

Nothing here trusts the file's name or the Content-Type it came with: the type is decided by
the bytes (magic numbers, then Pillow, pikepdf or an XML parser), limits are checked on the
header before anything is decoded, and what we store is always a fresh encoding:

- PNG, JPEG, WebP, GIF: decoded by Pillow and encoded again (orientation applied; EXIF, XMP,
  comments and text chunks dropped; the ICC colour profile kept). Whatever else the file held
  (an appended ZIP, an HTML "polyglot" tail) does not survive.
- SVG: parsed with defusedxml (no entity declarations, nothing external), then filtered by
  svg-hush (Cloudflare's SVG sanitiser: scripts, event handlers, foreignObject, external
  references and data URLs go), then checked again here and refused if anything active is left.
- PDF: rewritten by pikepdf (qpdf) with JavaScript, launch/submit actions, embedded files,
  forms, annotations other than plain links, and metadata removed; a full rewrite keeps only
  the objects the document uses.

``make_safe(data, limits)`` returns a ``SafeFile`` or raises ``Refused`` with a message for the
person who uploaded the file.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass, field
from xml.etree import ElementTree

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from qrp_assets import drawing
from qrplatform.ui import file_size

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ElementTree.register_namespace("", SVG_NS)
ElementTree.register_namespace("xlink", XLINK_NS)

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp",
                 "gif": "image/gif", "svg": "image/svg+xml", "pdf": "application/pdf"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif", "svg": "svg",
              "pdf": "pdf"}
KIND_OF = {"png": "image", "jpeg": "image", "webp": "image", "gif": "image", "svg": "svg",
           "pdf": "pdf"}
PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
ACCEPTED = "PNG, JPEG, WebP, GIF, SVG or PDF"

# An SVG's elements, and what its <use> references expand to when drawn ("use bombs").
MAX_SVG_ELEMENTS = 20_000
MAX_SVG_EXPANDED = 200_000
# Larger pages are not menus or brochures, and would make rendering a thumbnail a bomb.
MAX_PDF_PAGE_POINTS = 14_400  # 200 inches
PDF_ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/GoToE",
                      "/GoToR", "/RichMediaExecute", "/Rendition", "/Sound", "/Movie",
                      "/ResetForm", "/Hide", "/SetOCGState", "/Trans", "/GoTo3DView"}
# Keys that hold code or files wherever they appear in a PDF.
PDF_ACTIVE_KEYS = ("/JS", "/AA", "/OpenAction", "/AcroForm", "/EmbeddedFiles", "/AF",
                   "/XFA", "/RichMediaContent")
SAFE_LINK_SCHEMES = ("http://", "https://", "mailto:", "tel:")


class Refused(ValueError):
    """The file cannot be accepted; the message says why and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int
    max_svg_bytes: int
    max_pdf_pages: int
    max_frames: int


@dataclass
class SafeFile:
    format: str
    data: bytes
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    frames: int = 1
    # What was taken out, for the person to read ("EXIF metadata (with GPS position)").
    removed: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return KIND_OF[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def sniff(data: bytes) -> str | None:
    """The format the first bytes announce, or None. SVG is only a candidate until parsed."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "svg"
    return None


def make_safe(data: bytes, limits: Limits) -> SafeFile:
    if not data:
        raise Refused("The file is empty.")
    if len(data) > limits.max_bytes:
        raise Refused(f"The file is {file_size(len(data))}; at most {file_size(limits.max_bytes)} "
                      "per file.")
    fmt = sniff(data)
    if fmt is None:
        raise Refused(f"This file is not a {ACCEPTED} (judged by its content, not its name).")
    if fmt == "svg":
        return _safe_svg(data, limits)
    if fmt == "pdf":
        return _safe_pdf(data, limits)
    return _safe_raster(data, fmt, limits)


# -- raster images --------------------------------------------------------------------------------

def _open(data: bytes, fmt: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[fmt]])
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise Refused(f"This {fmt.upper()} file is damaged and cannot be read.") from exc


def check_pixels(width: int, height: int, frames: int, limits: Limits) -> None:
    """Refuse before decoding: the header's size is what decoding would cost."""
    pixels = width * height * max(1, frames)
    if width < 1 or height < 1:
        raise Refused("The image has no pixels.")
    if pixels > limits.max_pixels:
        what = f"{width} x {height} pixels" + (f" x {frames} frames" if frames > 1 else "")
        raise Refused(
            f"The image is {what} ({pixels / 1e6:,.0f} megapixels); at most "
            f"{limits.max_pixels / 1e6:,.0f} megapixels are accepted. A small file that "
            "unpacks to that many pixels is a decompression bomb; scale the image down.")


def gif_frames(data: bytes) -> list[tuple[int, int]]:
    """The size of each frame of a GIF, read from its blocks without decoding any pixels
    (Pillow counts frames by decoding them all)."""
    frames: list[tuple[int, int]] = []
    try:
        flags = data[10]
        pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
        while pos < len(data):
            block = data[pos]
            if block == 0x3B:  # trailer
                break
            if block == 0x21:  # extension: label, then sub-blocks
                pos = _skip_sub_blocks(data, pos + 2)
            elif block == 0x2C:  # image descriptor
                width, height = struct.unpack("<HH", data[pos + 5:pos + 9])
                local = data[pos + 9]
                frames.append((width, height))
                pos += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0)
                pos = _skip_sub_blocks(data, pos + 1)  # after the LZW code size
            else:
                raise Refused("This GIF file is damaged and cannot be read.")
    except (IndexError, struct.error) as exc:
        raise Refused("This GIF file is damaged or truncated.") from exc
    return frames


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while data[pos]:
        pos += data[pos] + 1
    return pos + 1


def _safe_raster(data: bytes, fmt: str, limits: Limits) -> SafeFile:
    image = _open(data, fmt)
    with image:
        width, height = image.size
        if fmt == "gif":
            sizes = gif_frames(data)
            frames = len(sizes)
            for frame_width, frame_height in sizes:
                check_pixels(frame_width, frame_height, 1, limits)
        else:
            frames = getattr(image, "n_frames", 1)
        if frames > limits.max_frames:
            raise Refused(f"The animation has {frames} frames; at most {limits.max_frames}.")
        check_pixels(width, height, frames, limits)
        removed = _metadata_found(image)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                if frames > 1:
                    out = _encode_animation(image, fmt)
                else:
                    image.load()
                    out, width, height = _encode_still(image, fmt, removed)
        except Refused:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombWarning,
                Image.DecompressionBombError) as exc:
            raise Refused(f"This {fmt.upper()} file is damaged or truncated and cannot be "
                          "read.") from exc
    return SafeFile(fmt, out, width, height, frames=frames, removed=removed)


def _metadata_found(image: Image.Image) -> list[str]:
    found = []
    exif = image.getexif()
    if exif:
        gps = exif.get_ifd(0x8825)
        found.append("EXIF metadata" + (" (with GPS position)" if gps else ""))
    if "xmp" in image.info or "XML:com.adobe.xmp" in image.info:
        found.append("XMP metadata")
    if "comment" in image.info:
        found.append("comment")
    texts = getattr(image, "text", None) if image.format == "PNG" else None
    if texts:
        found.append("text chunks")
    return found


def _encode_still(image: Image.Image, fmt: str, removed: list[str]) -> tuple[bytes, int, int]:
    orientation = image.getexif().get(0x0112, 1)
    icc = image.info.get("icc_profile")
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
        removed.append("orientation flag (applied to the pixels)")
    if fmt == "jpeg" and image.mode in ("RGBA", "LA"):
        image = image.convert("RGB")
    image.info = {}
    options: dict = {"icc_profile": icc} if icc else {}
    if fmt == "jpeg":
        options.update(quality=90)
    elif fmt == "webp":
        options.update(quality=90, method=4)
    elif fmt == "png":
        options.update(compress_level=6)
    buffer = io.BytesIO()
    image.save(buffer, PILLOW_FORMATS[fmt], **options)
    return buffer.getvalue(), image.width, image.height


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _encode_animation(image: Image.Image, fmt: str) -> bytes:
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(int(frame.info.get("duration") or 100))
        copy = frame.convert("RGBA")
        copy.info = {}
        frames.append(copy)
    loop = int(image.info.get("loop", 0))
    buffer = io.BytesIO()
    options = {"disposal": 2} if fmt == "gif" else {"quality": 90, "method": 4}
    frames[0].save(buffer, PILLOW_FORMATS[fmt], save_all=True, append_images=frames[1:],
                   duration=durations, loop=loop, **options)
    return buffer.getvalue()


# -- SVG ------------------------------------------------------------------------------------------

def _parse_svg(data: bytes) -> ElementTree.Element:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise Refused("The SVG declares XML entities or external resources, which can "
                      "expand without end or read files; remove the DOCTYPE's entity "
                      "declarations.") from exc
    except (ElementTree.ParseError, ValueError, RecursionError) as exc:
        raise Refused(f"This file is not a {ACCEPTED}: it looks like XML but does not "
                      "parse.") from exc
    if root.tag != f"{{{SVG_NS}}}svg":
        raise Refused(f"This file is not a {ACCEPTED}: it is XML, but not SVG (the root "
                      "element must be <svg> in the SVG namespace).")
    return root


def _check_svg_size(root: ElementTree.Element) -> None:
    elements = list(root.iter())
    if len(elements) > MAX_SVG_ELEMENTS:
        raise Refused(f"The SVG has {len(elements):,} elements; at most "
                      f"{MAX_SVG_ELEMENTS:,}. Simplify it or upload it as PNG.")
    by_id = {el.get("id"): el for el in elements if el.get("id")}
    memo: dict[int, int] = {}
    visiting: set[int] = set()

    def drawn(el: ElementTree.Element) -> int:
        # How many elements drawing ``el`` visits, <use> references included.
        key = id(el)
        if key in memo:
            return memo[key]
        if key in visiting:
            raise Refused("The SVG's <use> elements refer to each other in a loop.")
        visiting.add(key)
        total = 1 + sum(drawn(child) for child in el)
        if el.tag == f"{{{SVG_NS}}}use":
            target = _href(el)
            if target and target.startswith("#") and target[1:] in by_id:
                total += drawn(by_id[target[1:]])
        visiting.discard(key)
        memo[key] = total
        if total > MAX_SVG_EXPANDED:
            raise Refused("The SVG's <use> references expand to more than "
                          f"{MAX_SVG_EXPANDED:,} elements (a \"use bomb\"); it cannot be "
                          "drawn safely.")
        return total

    try:
        drawn(root)
    except RecursionError as exc:
        raise Refused("The SVG is nested too deeply to be drawn safely.") from exc


def _href(el: ElementTree.Element) -> str | None:
    return el.get("href") or el.get(f"{{{XLINK_NS}}}href")


ACTIVE_SVG_ELEMENTS = {"script", "foreignObject", "iframe", "embed", "object", "handler",
                       "listener"}


def _strip_outside_references(root: ElementTree.Element) -> int:
    """svg-hush rewrites external URLs into relative ones; a relative reference would still
    point at our own origin (or, for a renderer, at a local file): keep in-document ``#id``
    references only."""
    removed = 0
    for el in root.iter():
        for name in ("href", f"{{{XLINK_NS}}}href"):
            value = el.get(name)
            if value is not None and not value.startswith("#"):
                del el.attrib[name]
                removed += 1
    return removed


def _check_inert(root: ElementTree.Element) -> None:
    """Fail closed: refuse an SVG in which anything active survived the sanitiser."""
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
        if local in ACTIVE_SVG_ELEMENTS:
            raise Refused(f"The SVG still holds a <{local}> element after cleaning; it "
                          "cannot be made safe.")
        for name, value in el.attrib.items():
            attr = name.rsplit("}", 1)[-1].lower()
            if attr.startswith("on") or "javascript:" in value.lower().replace(" ", ""):
                raise Refused("The SVG still holds scripting after cleaning; it cannot be "
                              "made safe.")


def svg_size(data: bytes) -> tuple[int, int]:
    """The width and height an SVG states (or the browser default)."""
    return _svg_dimensions(_parse_svg(data))


# CSS pixels in one of each absolute unit an SVG's width or height may use (96 to the inch).
_CSS_PIXELS = {"px": 1.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4, "q": 96 / 101.6,
               "pt": 96 / 72, "pc": 16.0}


def _svg_dimensions(root: ElementTree.Element) -> tuple[int, int]:
    def number(value: str | None) -> float | None:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(px|mm|cm|q|in|pt|pc)?\s*",
                             (value or "").lower())
        return float(match.group(1)) * _CSS_PIXELS[match.group(2) or "px"] if match else None

    width, height = number(root.get("width")), number(root.get("height"))
    box = (root.get("viewBox") or "").replace(",", " ").split()
    if (width is None or height is None) and len(box) == 4:
        try:
            box_width, box_height = float(box[2]), float(box[3])
        except ValueError:
            box_width = box_height = 0
        if box_width > 0 and box_height > 0:
            if width is None and height is None:
                width, height = box_width, box_height
            elif width is None:
                width = height * box_width / box_height
            else:
                height = width * box_height / box_width
    # The size a browser gives an SVG that states none.
    return max(1, round(width or 300)), max(1, round(height or 150))


def _safe_svg(data: bytes, limits: Limits) -> SafeFile:
    import py_svg_hush

    if len(data) > limits.max_svg_bytes:
        raise Refused(f"The SVG is {file_size(len(data))}; at most "
                      f"{file_size(limits.max_svg_bytes)}. Simplify it or upload it as PNG.")
    original = _parse_svg(data)
    _check_svg_size(original)
    removed = _svg_removals(original)
    try:
        cleaned = py_svg_hush.filter_svg(data)
    except ValueError as exc:
        raise Refused("The SVG cannot be cleaned (the sanitiser could not read it); export "
                      "it again or upload it as PNG.") from exc
    root = _parse_svg(cleaned)
    if _strip_outside_references(root):
        removed.append("references to other files")
    _check_inert(root)
    width, height = _svg_dimensions(root)
    out = b'<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(root)
    try:  # refuse now what the thumbnailer could not draw
        drawing.svg(out, 32, _svg_dimensions(root))
    except Exception as exc:  # resvg reports every failure as a plain exception
        raise Refused("The SVG cannot be drawn; export it again or upload it as PNG.") from exc
    return SafeFile("svg", out, width, height, removed=sorted(set(removed)))


def _svg_removals(root: ElementTree.Element) -> list[str]:
    found = []
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
        if local == "script":
            found.append("scripts")
        elif local == "foreignObject":
            found.append("embedded HTML (foreignObject)")
        if any(name.rsplit("}", 1)[-1].lower().startswith("on") for name in el.attrib):
            found.append("event handlers")
        href = _href(el)
        if href and not href.startswith("#"):
            found.append("references to other files")
    return found


# -- PDF ------------------------------------------------------------------------------------------

def _safe_pdf(data: bytes, limits: Limits) -> SafeFile:
    import pikepdf

    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError as exc:
        raise Refused("The PDF is password-protected; save it without a password and upload "
                      "it again.") from exc
    except pikepdf.PdfError as exc:
        raise Refused("This PDF is damaged and cannot be read.") from exc
    with pdf:
        pages = len(pdf.pages)
        if pages == 0:
            raise Refused("The PDF has no pages.")
        if pages > limits.max_pdf_pages:
            raise Refused(f"The PDF has {pages} pages; at most {limits.max_pdf_pages}.")
        first = pdf.pages[0].mediabox
        width, height = float(first[2]) - float(first[0]), float(first[3]) - float(first[1])
        for page in pdf.pages:
            box = page.mediabox
            if max(abs(float(box[2]) - float(box[0])),
                   abs(float(box[3]) - float(box[1]))) > MAX_PDF_PAGE_POINTS:
                raise Refused("A page of the PDF is larger than 200 inches; it is not a "
                              "document we can show.")
        removed = _strip_pdf(pdf)
        if _strip_pdf(pdf):  # nothing may be left for a second pass to find
            raise Refused("The PDF's active content cannot be removed safely.")
        buffer = io.BytesIO()
        pdf.save(buffer, encryption=False, fix_metadata_version=False,
                 object_stream_mode=pikepdf.ObjectStreamMode.generate)
    _check_pdf_renders(buffer.getvalue())
    return SafeFile("pdf", buffer.getvalue(), round(abs(width)), round(abs(height)),
                    pages=pages, removed=sorted(set(removed)))


def _strip_pdf(pdf) -> list[str]:
    """Remove what can act or carry data: document and page actions, JavaScript, embedded
    files, forms, annotations other than links, metadata. Returns what was found."""
    return [*_strip_document(pdf), *_strip_annotations(pdf), *_strip_objects(pdf)]


def _strip_document(pdf) -> list[str]:
    import pikepdf

    found: list[str] = []
    if "/Info" in pdf.trailer:
        del pdf.trailer["/Info"]
        found.append("document information (author, software)")
    if "/Metadata" in pdf.Root:
        del pdf.Root["/Metadata"]
        found.append("XMP metadata")
    names = pdf.Root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        for key in ("/JavaScript", "/EmbeddedFiles"):
            if key in names:
                del names[key]
                found.append("JavaScript" if key == "/JavaScript" else "embedded files")
    return found


def _strip_annotations(pdf) -> list[str]:
    import pikepdf

    found: list[str] = []
    for page in pdf.pages:
        annotations = page.obj.get("/Annots")
        if isinstance(annotations, pikepdf.Array):
            kept = pikepdf.Array([a for a in annotations if _harmless_annotation(a)])
            if len(kept) != len(annotations):
                found.append("annotations other than web links (comments, launch actions)")
            page.obj["/Annots"] = kept
    return found


def _strip_objects(pdf) -> list[str]:
    """Wherever they hide (outlines, form fields, names): code, automatic actions, files."""
    import pikepdf

    found: list[str] = []
    for obj in pdf.objects:
        if not isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            continue
        for key in PDF_ACTIVE_KEYS:
            if key in obj:
                del obj[key]
                found.append(_PDF_KEY_NAMES[key])
        if str(obj.get("/S", "")) in PDF_ACTIVE_ACTIONS:
            for key in list(obj.keys()):
                del obj[key]
            obj["/S"] = pikepdf.Name("/Named")
            obj["/N"] = pikepdf.Name("/FirstPage")
            found.append("actions that run or open things")
    return found


_PDF_KEY_NAMES = {"/JS": "JavaScript", "/AA": "automatic actions", "/OpenAction": "an action "
                  "on opening", "/AcroForm": "form fields", "/EmbeddedFiles": "embedded files",
                  "/AF": "embedded files", "/XFA": "form fields",
                  "/RichMediaContent": "embedded media"}


def _harmless_annotation(annotation) -> bool:
    if str(annotation.get("/Subtype", "")) != "/Link":
        return False
    action = annotation.get("/A")
    if action is None:
        return True
    kind = str(action.get("/S", ""))
    if kind == "/URI":
        return str(action.get("/URI", "")).lower().startswith(SAFE_LINK_SCHEMES)
    return kind == "/GoTo"


def _check_pdf_renders(data: bytes) -> None:
    try:
        drawing.pdf_page(data, 32)
    except Exception as exc:
        raise Refused("The PDF cannot be drawn; export it again.") from exc
