"""Drawing a QR code with its design: PNG (Pillow), SVG (true vector paths) and PDF (ReportLab).

One layout, three painters. ``layout()`` turns a payload and a design into shapes measured in
modules (the code's own grid); each painter only scales and paints them, so the three formats
always show the same picture, and what the scannability check decodes (a PNG) is what an SVG or
PDF shows.

A design (stored as JSON on a code or a design template)::

    {"foreground": "#000000", "background": "#ffffff", "eye_color": null,
     "error_correction": "M", "quiet_zone": 4,
     "module_style": "square" | "rounded" | "dots",
     "eye_style": "square" | "rounded" | "circle",
     "logo": null | "<storage key of an uploaded image>", "logo_size": 0.22,
     "frame": "none" | "box", "frame_text": "Scan me", "frame_color": null}
"""

from __future__ import annotations

import base64
import io
import math
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import qrcode
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from PIL import Image, ImageDraw, ImageFont
from qrcode.exceptions import DataOverflowError

if TYPE_CHECKING:  # numpy is imported where a code is laid out: pages and the API load faster
    import numpy as np

FORMATS = ("png", "svg", "pdf")
MIME_TYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
MODULE_STYLES = ("square", "rounded", "dots")
EYE_STYLES = ("square", "rounded", "circle")
FRAMES = ("none", "box")
ERROR_CORRECTION = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
                    "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}
DEFAULT_SIZE = 512
MIN_SIZE, MAX_SIZE = 64, 4096
# A logo covers at most this share of the code's width: with error correction H (30 % of the
# codewords recoverable) a 30 % wide square hides about 9 % of the modules, leaving margin for
# smudges and the angle of a phone.
MIN_LOGO, MAX_LOGO, DEFAULT_LOGO = 0.10, 0.30, 0.22
FRAME_BORDER = 1.0   # modules
MIN_PIXELS_PER_MODULE = 2
RENDER_VERSION = 1   # bump when a change to the drawing changes pixels: new image keys

DEFAULT_DESIGN: dict[str, Any] = {
    "foreground": "#000000",
    "background": "#ffffff",
    "eye_color": None,
    "error_correction": "M",
    "quiet_zone": 4,
    "module_style": "square",
    "eye_style": "square",
    "logo": None,
    "logo_size": DEFAULT_LOGO,
    "frame": "none",
    "frame_text": "Scan me",
    "frame_color": None,
}

HEX_COLOR = validate.Regexp(r"^#[0-9a-fA-F]{6}$",
                            error="Use a colour like #1a2b3c (six hex digits).")


class LogoField(fields.Field):
    """An asset id (an integer, or digits) or a storage key (a string)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError("Give an asset id or an uploaded logo's key.")
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int):
            if not 1 <= value <= 2**31 - 1:
                raise ValidationError("Not an asset id.")
            return value
        if len(value) > 300:
            raise ValidationError("Longer than 300 characters.")
        return value


class DesignSchema(Schema):
    """A code's look. Every field is optional; what is left out takes the default."""

    foreground = fields.String(validate=HEX_COLOR, metadata={"example": "#000000"})
    background = fields.String(validate=HEX_COLOR, metadata={"example": "#ffffff"})
    eye_color = fields.String(validate=HEX_COLOR, allow_none=True,
                              metadata={"description": "the three corner eyes; foreground "
                                                       "when null"})
    error_correction = fields.String(validate=validate.OneOf(tuple(ERROR_CORRECTION)),
                                     metadata={"description": "L, M, Q or H; a logo forces H"})
    quiet_zone = fields.Integer(validate=validate.Range(0, 10),
                                metadata={"description": "blank border, in modules (4 is the "
                                                         "standard)"})
    module_style = fields.String(validate=validate.OneOf(MODULE_STYLES))
    eye_style = fields.String(validate=validate.OneOf(EYE_STYLES))
    logo = LogoField(allow_none=True, metadata={
        "description": "the id of an image or SVG in the media library (GET /api/v1/assets), "
                       "or the storage key of an uploaded logo (POST /api/v1/qr-codes/logos)",
        "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "maxLength": 300}]})
    logo_size = fields.Float(validate=validate.Range(MIN_LOGO, MAX_LOGO),
                             metadata={"description": "share of the code's width"})
    frame = fields.String(validate=validate.OneOf(FRAMES))
    frame_text = fields.String(validate=validate.Length(max=30))
    frame_color = fields.String(validate=HEX_COLOR, allow_none=True)

    @validates_schema
    def _logo_key(self, data, **_kwargs):
        logo = data.get("logo")
        if isinstance(logo, str) and logo and not logo.isdigit() and (
                not logo.startswith("c/") or ".." in logo or "://" in logo):
            raise ValidationError("Pick the logo from the library (its id) or upload it first "
                                  "and use the key you get back; images are never fetched "
                                  "from a URL.", "logo")


def normalise_design(design: dict[str, Any] | None) -> dict[str, Any]:
    """Fill in defaults; a logo raises error correction to H (the logo hides modules)."""
    merged = {**DEFAULT_DESIGN, **{k: v for k, v in (design or {}).items()
                                   if k in DEFAULT_DESIGN}}
    for key in ("foreground", "background", "eye_color", "frame_color"):
        if merged[key]:
            merged[key] = merged[key].lower()
    if isinstance(merged["logo"], str) and merged["logo"].isdigit():
        merged["logo"] = int(merged["logo"])  # an asset of the media library
    if merged["logo"]:
        merged["error_correction"] = "H"
    else:
        merged["logo_size"] = DEFAULT_LOGO
    merged["quiet_zone"] = int(merged["quiet_zone"])
    merged["logo_size"] = round(float(merged["logo_size"]), 3)
    return merged


# -- the layout ---------------------------------------------------------------------------------

class PayloadTooLong(ValueError):
    pass


def _numpy():
    import numpy

    return numpy


@lru_cache(maxsize=2048)
def qr_matrix(payload: str, error_correction: str) -> np.ndarray:
    """The module grid (without quiet zone), read-only. Cached: encoding is the costly part of
    a render (``encoder``: the qrcode library's grid, faster)."""
    from qrp_qr import encoder

    try:
        grid = encoder.matrix(payload, ERROR_CORRECTION[error_correction])
    except (DataOverflowError, ValueError) as exc:
        raise PayloadTooLong(
            f"Too much content for a QR code with error correction {error_correction}"
            + (": shorten it, or lower the error correction." if error_correction != "L"
               else ": shorten it.")) from exc
    grid.setflags(write=False)
    return grid


@dataclass
class Layout:
    """Everything to draw, in module units; (0, 0) is the top-left corner."""

    width: float
    height: float
    background: str
    # (x, y, w, h, colour, corner radius) drawn before the code area (the frame).
    frame_shapes: list[tuple] = field(default_factory=list)
    code_origin: float = 0.0          # top-left of the first module
    n: int = 0                        # modules per side
    # (n, n) booleans, [y, x]: the modules to draw as modules (eyes drawn apart, and the logo's
    # hole, left out)
    modules: np.ndarray = field(default_factory=lambda: _numpy().zeros((0, 0), dtype=bool))
    module_style: str = "square"
    foreground: str = "#000000"
    eyes: list[tuple[float, float]] = field(default_factory=list)  # top-left of each eye
    eye_style: str = "square"
    eye_color: str = "#000000"
    logo: tuple | None = None         # (x, y, size, PIL image)
    text: tuple | None = None         # (centre x, baseline y, font size, colour, text)

    @property
    def dark(self) -> list[tuple[int, int]]:
        """The modules to draw as (x, y), row by row."""
        ys, xs = _numpy().nonzero(self.modules)
        return list(zip(xs.tolist(), ys.tolist(), strict=True))


def layout(payload: str, design: dict[str, Any], logo_image: Image.Image | None = None) -> Layout:
    design = normalise_design(design)
    matrix = qr_matrix(payload, design["error_correction"])
    n = len(matrix)
    quiet = design["quiet_zone"]
    side = n + 2 * quiet
    framed = design["frame"] == "box"
    border = FRAME_BORDER if framed else 0.0
    label = max(4.0, side * 0.16) if framed else 0.0
    out = Layout(width=side + 2 * border, height=side + 2 * border + label,
                 background=design["background"])
    if framed:
        frame_color = design["frame_color"] or design["foreground"]
        out.frame_shapes = [
            (0.0, 0.0, out.width, out.height, frame_color, min(2.0, side * 0.05)),
            (border, border, side, side, design["background"], 0.0),
        ]
        if design["frame_text"]:
            out.text = (out.width / 2, side + border + label * 0.68, label * 0.5,
                        design["background"], design["frame_text"])
    out.code_origin = border + quiet
    out.n = n
    out.module_style = design["module_style"]
    out.foreground = design["foreground"]
    out.eye_style = design["eye_style"]
    out.eye_color = design["eye_color"] or design["foreground"]
    # Square eyes among square modules of the same colour are plain modules: one pass.
    separate_eyes = not (out.eye_style == "square" and out.module_style == "square"
                         and out.eye_color == out.foreground)
    out.eyes = [(0, 0), (n - 7, 0), (0, n - 7)] if separate_eyes else []
    modules = matrix.copy()
    if separate_eyes:
        for ex, ey in out.eyes:
            modules[ey:ey + 7, ex:ex + 7] = False
    if logo_image is not None and design["logo"]:
        # Clear whole modules behind the logo plus half a module of air around it.
        box = design["logo_size"] * n
        start = (n - box) / 2
        np = _numpy()
        centres = np.arange(n) + 0.5
        inside = (start - 0.5 <= centres) & (centres <= start + box + 0.5)
        modules[np.ix_(inside, inside)] = False
        out.logo = (out.code_origin + start, out.code_origin + start, box, logo_image)
    out.modules = modules
    return out


# -- PNG ----------------------------------------------------------------------------------------

def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=64)
def _eye_mask(style: str, scale: int) -> Image.Image:
    """One 7x7 eye (ring and ball) drawn at ``scale`` pixels per module."""
    side = 7 * scale
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    radius = {"square": 0, "rounded": 2 * scale, "circle": side}[style]
    inner_radius = {"square": 0, "rounded": int(1.3 * scale), "circle": side}[style]
    ball_radius = {"square": 0, "rounded": scale, "circle": side}[style]
    if style == "circle":
        draw.ellipse((0, 0, side - 1, side - 1), fill=255)
        draw.ellipse((scale, scale, side - scale - 1, side - scale - 1), fill=0)
        draw.ellipse((2 * scale, 2 * scale, 5 * scale - 1, 5 * scale - 1), fill=255)
    else:
        draw.rounded_rectangle((0, 0, side - 1, side - 1), radius=radius, fill=255)
        draw.rounded_rectangle((scale, scale, side - scale - 1, side - scale - 1),
                               radius=inner_radius, fill=0)
        draw.rounded_rectangle((2 * scale, 2 * scale, 5 * scale - 1, 5 * scale - 1),
                               radius=ball_radius, fill=255)
    return mask


@lru_cache(maxsize=64)
def _module_stamp(style: str, scale: int) -> Image.Image:
    stamp = Image.new("L", (scale, scale), 0)
    draw = ImageDraw.Draw(stamp)
    if style == "dots":
        pad = scale * 0.06
        draw.ellipse((pad, pad, scale - pad - 1, scale - pad - 1), fill=255)
    else:
        draw.rounded_rectangle((0, 0, scale - 1, scale - 1), radius=scale * 0.35, fill=255)
    return stamp


@lru_cache(maxsize=64)
def _eye_at(style: str, scale: int, side: int) -> Image.Image:
    resample = Image.NEAREST if style == "square" else Image.LANCZOS
    return _eye_mask(style, scale).resize((side, side), resample)


def _module_mask(lay: Layout, target: int) -> Image.Image:
    """The data modules as a mask of ``target`` x ``target`` pixels."""
    n = lay.n
    if lay.module_style == "square":
        mask = Image.frombytes("L", (n, n), (lay.modules.astype("uint8") * 255).tobytes())
        return mask.resize((target, target), Image.NEAREST)
    # Drawn large, then reduced: smooth edges without a slow anti-aliasing painter. One module
    # is drawn once and stamped everywhere (a paste is far cheaper than drawing a shape).
    scale = max(4, min(24, math.ceil(target * 2 / n)))
    mask = Image.new("L", (n * scale, n * scale), 0)
    stamp = _module_stamp(lay.module_style, scale)
    for x, y in lay.dark:
        mask.paste(255, (x * scale, y * scale), stamp)
    return mask.resize((target, target), Image.LANCZOS)


def render_png(lay: Layout, size: int) -> bytes:
    return encode_png(render_image(lay, size))


def _is_plain(lay: Layout) -> bool:
    return (lay.module_style == "square" and not lay.eyes and lay.logo is None
            and not lay.frame_shapes and lay.text is None)


def _plain_image(lay: Layout, size: int) -> Image.Image:
    """Two flat colours, square modules: a 1-bit palette picture straight from the module
    grid, with no RGB compositing (the common case, and the bulk job's)."""
    px = size / lay.width
    origin = round(lay.code_origin * px)
    code_px = round((lay.code_origin + lay.n) * px) - origin
    picture = Image.new("P", (size, round(lay.height * px)), 0)
    picture.paste(1, (origin, origin), _module_mask(lay, code_px))
    picture.putpalette([*_rgb(lay.background), *_rgb(lay.foreground)])
    return picture


def render_image(lay: Layout, size: int) -> Image.Image:
    """The picture, ``size`` pixels wide (the frame's label makes it taller)."""
    if _is_plain(lay):
        return _plain_image(lay, size)
    px = size / lay.width
    height = round(lay.height * px)
    image = Image.new("RGB", (size, height), _rgb(lay.background))
    draw = ImageDraw.Draw(image)
    for x, y, w, h, color, radius in lay.frame_shapes:
        box = (round(x * px), round(y * px), round((x + w) * px) - 1, round((y + h) * px) - 1)
        draw.rounded_rectangle(box, radius=round(radius * px), fill=_rgb(color))
    origin = round(lay.code_origin * px)
    code_px = round((lay.code_origin + lay.n) * px) - origin
    modules = _module_mask(lay, code_px)
    image.paste(_rgb(lay.foreground), (origin, origin), modules)
    eye_scale = max(4, math.ceil(px * 2))
    for ex, ey in lay.eyes:
        left = origin + round(ex * px)
        top = origin + round(ey * px)
        side = origin + round((ex + 7) * px) - left
        image.paste(_rgb(lay.eye_color), (left, top), _eye_at(lay.eye_style, eye_scale, side))
    if lay.logo is not None:
        lx, ly, lsize, logo = lay.logo
        box = round(lsize * px)
        fitted = logo.copy()
        fitted.thumbnail((box, box), Image.LANCZOS)
        left = round(lx * px) + (box - fitted.width) // 2
        top = round(ly * px) + (box - fitted.height) // 2
        image.paste(fitted, (left, top), fitted if fitted.mode == "RGBA" else None)
    if lay.text is not None:
        cx, baseline, font_size, color, text = lay.text
        font = _font(max(8, round(font_size * px)))
        draw.text((cx * px, baseline * px), text, font=font, fill=_rgb(color), anchor="ms")
    return image


def encode_png(image: Image.Image) -> bytes:
    """A palette PNG when the picture allows it: three to ten times smaller than RGB."""
    buffer = io.BytesIO()
    if image.mode == "P":
        image.save(buffer, "PNG", bits=1, compress_level=6)
        return buffer.getvalue()
    colors = image.getcolors(256) if image.mode == "RGB" else None
    if colors is not None and len(colors) == 2:
        # The common case (flat square modules): map the two colours straight to a 1-bit
        # palette; a general quantizer costs ten times the rest of the render.
        (_, first), (_, second) = colors
        first_level, second_level = (Image.new("RGB", (1, 1), c).convert("L").getpixel((0, 0))
                                     for c in (first, second))
        if first_level != second_level:
            indexed = image.convert("L").point(lambda v: 0 if v == first_level else 1)
            paletted = Image.frombytes("P", image.size, indexed.tobytes())
            paletted.putpalette([*first, *second])
            paletted.save(buffer, "PNG", bits=1, compress_level=6)
            return buffer.getvalue()
    if colors is not None:
        image = image.quantize(colors=len(colors), method=Image.Quantize.FASTOCTREE,
                               dither=Image.Dither.NONE)
    image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


# -- SVG ----------------------------------------------------------------------------------------

def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _rounded_rect_path(x: float, y: float, w: float, h: float, r: float) -> str:
    if r <= 0:
        return f"M{_num(x)} {_num(y)}h{_num(w)}v{_num(h)}h{_num(-w)}z"
    r = min(r, w / 2, h / 2)
    return (f"M{_num(x + r)} {_num(y)}h{_num(w - 2 * r)}a{_num(r)} {_num(r)} 0 0 1 "
            f"{_num(r)} {_num(r)}v{_num(h - 2 * r)}a{_num(r)} {_num(r)} 0 0 1 {_num(-r)} "
            f"{_num(r)}h{_num(-(w - 2 * r))}a{_num(r)} {_num(r)} 0 0 1 {_num(-r)} {_num(-r)}"
            f"v{_num(-(h - 2 * r))}a{_num(r)} {_num(r)} 0 0 1 {_num(r)} {_num(-r)}z")


def _circle_path(cx: float, cy: float, r: float) -> str:
    return (f"M{_num(cx - r)} {_num(cy)}a{_num(r)} {_num(r)} 0 1 0 {_num(2 * r)} 0"
            f"a{_num(r)} {_num(r)} 0 1 0 {_num(-2 * r)} 0z")


def _eye_paths(style: str, x: float, y: float) -> str:
    """Ring and ball of one eye; the ring's hole comes from the even-odd fill rule."""
    if style == "circle":
        return (_circle_path(x + 3.5, y + 3.5, 3.5) + _circle_path(x + 3.5, y + 3.5, 2.5)
                + _circle_path(x + 3.5, y + 3.5, 1.5))
    outer, inner, ball = (0, 0, 0) if style == "square" else (2, 1.3, 1)
    return (_rounded_rect_path(x, y, 7, 7, outer) + _rounded_rect_path(x + 1, y + 1, 5, 5, inner)
            + _rounded_rect_path(x + 2, y + 2, 3, 3, ball))


def _runs(modules: np.ndarray) -> list[tuple[int, int, int]]:
    """Horizontal runs of dark modules as (x, y, length), row by row: one rectangle each, not
    one per module, for smaller and faster SVG and PDF files."""
    np = _numpy()
    padded = np.zeros((modules.shape[0], modules.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = modules
    edges = np.diff(padded, axis=1)
    ys, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return list(zip(starts.tolist(), ys.tolist(), (ends - starts).tolist(), strict=True))


def _module_paths(lay: Layout) -> str:
    o = lay.code_origin
    if lay.module_style == "square":
        return "".join(f"M{o + x:g} {o + y:g}h{run}v1h-{run}z" for x, y, run in _runs(lay.modules))
    if lay.module_style == "dots":
        return "".join(_circle_path(o + x + 0.5, o + y + 0.5, 0.44) for x, y in lay.dark)
    return "".join(_rounded_rect_path(o + x, o + y, 1, 1, 0.35) for x, y in lay.dark)


def _xml_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def render_svg(lay: Layout, size: int) -> bytes:
    height = size * lay.height / lay.width
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{size}" height="{_num(height)}" viewBox="0 0 {_num(lay.width)} '
        f'{_num(lay.height)}" shape-rendering="geometricPrecision">',
        f'<rect width="{_num(lay.width)}" height="{_num(lay.height)}" fill="{lay.background}"/>',
    ]
    for x, y, w, h, color, radius in lay.frame_shapes:
        out.append(f'<path d="{_rounded_rect_path(x, y, w, h, radius)}" fill="{color}"/>')
    out.append(f'<path d="{_module_paths(lay)}" fill="{lay.foreground}"/>')
    o = lay.code_origin
    eyes = "".join(_eye_paths(lay.eye_style, o + ex, o + ey) for ex, ey in lay.eyes)
    out.append(f'<path d="{eyes}" fill="{lay.eye_color}" fill-rule="evenodd"/>')
    if lay.logo is not None:
        lx, ly, lsize, logo = lay.logo
        data = base64.b64encode(encode_png(logo.convert("RGBA"))).decode()
        out.append(f'<image x="{_num(lx)}" y="{_num(ly)}" width="{_num(lsize)}" '
                   f'height="{_num(lsize)}" preserveAspectRatio="xMidYMid meet" '
                   f'xlink:href="data:image/png;base64,{data}"/>')
    if lay.text is not None:
        cx, baseline, font_size, color, text = lay.text
        out.append(f'<text x="{_num(cx)}" y="{_num(baseline)}" font-size="{_num(font_size)}" '
                   f'font-family="Helvetica, Arial, sans-serif" font-weight="bold" '
                   f'text-anchor="middle" fill="{color}">{_xml_escape(text)}</text>')
    out.append("</svg>\n")
    return "".join(out).encode()


# -- PDF ----------------------------------------------------------------------------------------

class _PdfPen:
    """Draws in module units with the top-left origin the layout uses, on a reportlab canvas
    (points, bottom-left origin)."""

    def __init__(self, pdf, unit: float, page_h: float):
        self.pdf, self.unit, self.page_h = pdf, unit, page_h

    def y(self, y: float, h: float = 0.0) -> float:
        return self.page_h - (y + h) * self.unit

    def fill(self, color: str) -> None:
        r, g, b = _rgb(color)
        self.pdf.setFillColorRGB(r / 255, g / 255, b / 255)

    def box(self, target, x: float, y: float, w: float, h: float, radius: float = 0,
            **paint) -> None:
        """A rectangle, rounded when ``radius``, on a path (or on the canvas, with ``paint``
        such as stroke=0, fill=1)."""
        u = self.unit
        if radius:
            target.roundRect(x * u, self.y(y, h), w * u, h * u, radius * u, **paint)
        else:
            target.rect(x * u, self.y(y, h), w * u, h * u, **paint)


def _pdf_color(color: str) -> str:
    return " ".join(_num(channel / 255) for channel in _rgb(color))


def _plain_pdf(lay: Layout, size: int) -> bytes:
    """Two flat colours, square modules: the page written directly, one rectangle per run of
    modules in module units (a fifth of ReportLab's cost, for the common case and the bulk
    job's; ReportLab draws everything else)."""
    unit = size * 0.75 / lay.width
    page_w, page_h = lay.width * unit, lay.height * unit
    o = lay.code_origin
    # Module units, y down: the page's origin is its bottom-left corner.
    content = "".join([
        f"{_num(unit)} 0 0 {_num(-unit)} 0 {_num(page_h)} cm\n",
        f"{_pdf_color(lay.background)} rg 0 0 {_num(lay.width)} {_num(lay.height)} re f\n",
        f"{_pdf_color(lay.foreground)} rg\n",
        *(f"{_num(o + x)} {_num(o + y)} {run} 1 re\n" for x, y, run in _runs(lay.modules)),
        "f\n",
    ]).encode()
    stream = zlib.compress(content, 6)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_num(page_w)} {_num(page_h)}] "
        f"/Resources << >> /Contents 4 0 R >>".encode(),
        f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream
        + b"\nendstream",
        b"<< /Title (QR code) /Producer (QR Platform) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def render_pdf(lay: Layout, size: int) -> bytes:
    """A one-page vector PDF, ``size`` CSS pixels wide (size x 0.75 points)."""
    if _is_plain(lay):
        return _plain_pdf(lay, size)
    from reportlab.pdfgen import canvas

    unit = size * 0.75 / lay.width      # points per module
    page_w, page_h = lay.width * unit, lay.height * unit
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(page_w, page_h), pageCompression=1,
                        invariant=1)
    pdf.setTitle("QR code")
    pen = _PdfPen(pdf, unit, page_h)
    pen.fill(lay.background)
    pdf.rect(0, 0, page_w, page_h, stroke=0, fill=1)
    for x, y, w, h, color, radius in lay.frame_shapes:
        pen.fill(color)
        pen.box(pdf, x, y, w, h, radius, stroke=0, fill=1)
    _pdf_modules(pen, lay)
    _pdf_eyes(pen, lay)
    _pdf_logo_and_text(pen, lay)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _pdf_modules(pen: _PdfPen, lay: Layout) -> None:
    o, unit = lay.code_origin, pen.unit
    pen.fill(lay.foreground)
    path = pen.pdf.beginPath()
    if lay.module_style == "square":
        for x, y, run in _runs(lay.modules):
            path.rect((o + x) * unit, pen.y(o + y, 1), run * unit, unit)
    elif lay.module_style == "dots":
        for x, y in lay.dark:
            path.circle((o + x + 0.5) * unit, pen.y(o + y + 0.5), 0.44 * unit)
    else:
        for x, y in lay.dark:
            path.roundRect((o + x) * unit, pen.y(o + y, 1), unit, unit, 0.35 * unit)
    pen.pdf.drawPath(path, stroke=0, fill=1)


def _pdf_eyes(pen: _PdfPen, lay: Layout) -> None:
    o, unit = lay.code_origin, pen.unit
    pen.fill(lay.eye_color)
    eyes = pen.pdf.beginPath()
    for ex, ey in lay.eyes:
        x, y = o + ex, o + ey
        if lay.eye_style == "circle":
            for r in (3.5, 2.5, 1.5):
                eyes.circle((x + 3.5) * unit, pen.y(y + 3.5), r * unit)
            continue
        outer, inner, ball = (0, 0, 0) if lay.eye_style == "square" else (2, 1.3, 1)
        for off, side, radius in ((0, 7, outer), (1, 5, inner), (2, 3, ball)):
            pen.box(eyes, x + off, y + off, side, side, radius)
    pen.pdf.drawPath(eyes, stroke=0, fill=1, fillMode=0)  # 0: even-odd, the ring's hole


def _pdf_logo_and_text(pen: _PdfPen, lay: Layout) -> None:
    from reportlab.lib.utils import ImageReader

    unit = pen.unit
    if lay.logo is not None:
        lx, ly, lsize, logo = lay.logo
        pen.pdf.drawImage(ImageReader(logo.convert("RGBA")), lx * unit, pen.y(ly, lsize),
                          lsize * unit, lsize * unit, mask="auto", preserveAspectRatio=True,
                          anchor="c")
    if lay.text is not None:
        cx, baseline, font_size, color, text = lay.text
        pen.fill(color)
        pen.pdf.setFont("Helvetica-Bold", font_size * unit)
        pen.pdf.drawCentredString(cx * unit, pen.y(baseline), text)


PAINTERS = {"png": render_png, "svg": render_svg, "pdf": render_pdf}


def min_size(lay: Layout) -> int:
    return max(MIN_SIZE, math.ceil(lay.width * MIN_PIXELS_PER_MODULE))


def render(lay: Layout, fmt: str, size: int) -> bytes:
    return PAINTERS[fmt](lay, size)


def load_logo(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGBA")
