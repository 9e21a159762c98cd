"""Drawing a QR code with its design: PNG (Pillow), SVG (true vector paths) and PDF (ReportLab).
SVG and PDF also come at a physical size (``PrintSize``: millimetres, a bleed, crop marks).

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
import struct
import threading
import zlib
from collections.abc import Callable
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
ROUNDED_RADIUS = 0.35   # a rounded module's corners, in modules (a module is one wide)
# A frame's label is set at most this share of the code's width wide in Helvetica Bold (a
# longer one smaller): a viewer with neither Helvetica nor Arial draws the SVG's label in a
# sans such as DejaVu, about a fifth wider, which then still fits inside the frame.
LABEL_WIDTH = 0.8
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


def _settable(character: str) -> bool:
    """Whether every format can set ``character`` in a frame's label: the PDF's Helvetica Bold
    and the PNG's face (``_font``) both have Windows-1252, the letters and signs of Western
    European languages; beyond it the PNG and the PDF would show empty boxes."""
    try:
        character.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return character.isprintable()


def _drawable_label(text: str) -> None:
    others = list(dict.fromkeys(c for c in text if not _settable(c)))
    if others:
        shown = " ".join(repr(c) if c.isprintable() else f"U+{ord(c):04X}" for c in others[:5])
        raise ValidationError(f"The label's font has no {shown}: use the letters, digits and "
                              "signs of Western European languages (accents, €, quotes).")


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
    frame_text = fields.String(validate=[validate.Length(max=30), _drawable_label], metadata={
        "description": "the frame's label: up to 30 characters of Western European languages "
                       "(Windows-1252: accented letters, €, quotes); a long one is set smaller "
                       "to fit"})
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
            text = design["frame_text"]
            size = min(label * 0.5, LABEL_WIDTH * side / _label_ems(text))
            # Centred in the band: a capital's middle is about 0.36 of the size above the
            # baseline.
            out.text = (out.width / 2, side + border + label / 2 + 0.36 * size, size,
                        design["background"], text)
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


@lru_cache(maxsize=256)
def _label_ems(text: str) -> float:
    """A frame label's width at a size of 1, in the wider of the two fonts that draw it:
    Helvetica Bold (the SVG and PDF; Arial has its widths) and the PNG's font."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return max(stringWidth(text, "Helvetica-Bold", 1), _font(100).getlength(text) / 100, 1e-6)


# -- a physical size (print exports) -------------------------------------------------------------

PRINT_FORMATS = ("svg", "pdf")
MM_PER_INCH = 25.4
PRINT_UNITS = ("mm", "in")
# The trim's width: from a business card's corner to a billboard (PDF pages end at 5080 mm).
MIN_PRINT_MM, MAX_PRINT_MM = 10.0, 5000.0
MAX_BLEED_MM = 10.0
DEFAULT_BLEED_MM = 3.0          # the printers' usual
CROP_MARK_MM = 5.0              # length of a crop mark
CROP_MARK_GAP_MM = 3.0          # the marks start at least this far from the trim (past the bleed)
CROP_MARK_STROKE_MM = 0.1       # about 0.28 pt: a hairline


class PrintSizeInvalid(ValueError):
    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class PrintSize:
    """A print export: the trim (the code's picture, frame included) ``width_mm`` wide, the
    background carried ``bleed_mm`` past it, and crop marks outside the bleed."""

    width_mm: float
    bleed_mm: float = DEFAULT_BLEED_MM
    crop_marks: bool = True

    @classmethod
    def parse(cls, width: float, unit: str = "mm", bleed: float | None = None,
              crop_marks: bool = True) -> PrintSize:
        """From what a user asks for (in ``unit``); the one place these ranges are checked.
        Raises PrintSizeInvalid naming the fields."""
        if unit not in PRINT_UNITS:
            raise PrintSizeInvalid({"unit": ["Use mm or in."]})
        scale = MM_PER_INCH if unit == "in" else 1.0
        width_mm = float(width) * scale
        bleed_mm = DEFAULT_BLEED_MM if bleed is None else float(bleed) * scale
        errors = {}
        if not (math.isfinite(width_mm) and MIN_PRINT_MM <= width_mm <= MAX_PRINT_MM):
            errors["width"] = [f"Ask for {_span(MIN_PRINT_MM, MAX_PRINT_MM, unit)} wide."]
        if not (math.isfinite(bleed_mm) and 0 <= bleed_mm <= MAX_BLEED_MM):
            errors["bleed"] = [f"Ask for a bleed of {_span(0, MAX_BLEED_MM, unit)}."]
        if errors:
            raise PrintSizeInvalid(errors)
        return cls(round(width_mm, 3), round(bleed_mm, 3), bool(crop_marks))

    def height_mm(self, lay: Layout) -> float:
        return self.width_mm * lay.height / lay.width

    @property
    def margin_mm(self) -> float:
        """From the trim to the page's edge."""
        if not self.crop_marks:
            return self.bleed_mm
        return max(self.bleed_mm, CROP_MARK_GAP_MM) + CROP_MARK_MM

    def page_mm(self, lay: Layout) -> tuple[float, float]:
        return (self.width_mm + 2 * self.margin_mm, self.height_mm(lay) + 2 * self.margin_mm)

    def crop_mark_lines(self, lay: Layout) -> list[tuple[float, float, float, float]]:
        """(x1, y1, x2, y2) in mm from the trim's top-left corner, y down: two marks at each
        corner, on the trim's lines, starting past the bleed."""
        if not self.crop_marks:
            return []
        gap = max(self.bleed_mm, CROP_MARK_GAP_MM)
        w, h = self.width_mm, self.height_mm(lay)
        lines = []
        for x, out_x in ((0.0, -1), (w, 1)):
            for y, out_y in ((0.0, -1), (h, 1)):
                lines.append((x + out_x * gap, y, x + out_x * (gap + CROP_MARK_MM), y))
                lines.append((x, y + out_y * gap, x, y + out_y * (gap + CROP_MARK_MM)))
        return lines

    def describe(self, lay: Layout) -> str:
        marks = ", crop marks" if self.crop_marks else ""
        return (f"QR code printed {_num(self.width_mm)} x {_num(round(self.height_mm(lay), 2))}"
                f" mm (trim), {_num(self.bleed_mm)} mm bleed{marks}")

    def keywords(self, lay: Layout) -> str:
        return (f"trim_width_mm={_num(self.width_mm)}; "
                f"trim_height_mm={_num(round(self.height_mm(lay), 3))}; "
                f"bleed_mm={_num(self.bleed_mm)}; crop_marks={str(self.crop_marks).lower()}")

    def as_dict(self, lay: Layout) -> dict[str, Any]:
        page_w, page_h = self.page_mm(lay)
        return {"width_mm": self.width_mm, "height_mm": round(self.height_mm(lay), 3),
                "bleed_mm": self.bleed_mm, "crop_marks": self.crop_marks,
                "page_width_mm": round(page_w, 3), "page_height_mm": round(page_h, 3)}

    def key(self) -> list[Any]:
        """For an image's storage key."""
        return ["print", self.width_mm, self.bleed_mm, self.crop_marks]


def _span(low_mm: float, high_mm: float, unit: str) -> str:
    low, high = _in_unit(low_mm, high_mm, unit)
    return f"{_num(low)} to {_num(high)} {unit}"


def _in_unit(low_mm: float, high_mm: float, unit: str) -> tuple[float, float]:
    """A range in ``unit``, to two decimals inside it (0.39 in would be 9.9 mm: too small)."""
    if unit == "mm":
        return low_mm, high_mm
    return (math.ceil(low_mm / MM_PER_INCH * 100) / 100,
            math.floor(high_mm / MM_PER_INCH * 100) / 100)


# A bleed the form starts from, per unit: 3 mm, or the eighth of an inch US printers ask for.
DEFAULT_BLEED = {"mm": DEFAULT_BLEED_MM, "in": 0.125}


def print_ranges() -> dict[str, dict[str, float]]:
    """Per unit, what a print export accepts: for a form's limits, changed with its unit."""
    ranges = {}
    for unit in PRINT_UNITS:
        low, high = _in_unit(MIN_PRINT_MM, MAX_PRINT_MM, unit)
        ranges[unit] = {"min": low, "max": high, "bleed": DEFAULT_BLEED[unit],
                        "bleed_max": _in_unit(0, MAX_BLEED_MM, unit)[1],
                        "mm_per_unit": MM_PER_INCH if unit == "in" else 1.0}
    return ranges


# -- PNG ----------------------------------------------------------------------------------------

def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """The PNG's label face: Bitstream Vera Sans Bold, which ReportLab ships. It is bold like
    the SVG's and PDF's Helvetica Bold and has all of Windows-1252 (``_settable``);
    Pillow's own face has no accented letter."""
    import importlib.util

    package = importlib.util.find_spec("reportlab").submodule_search_locations[0]
    return ImageFont.truetype(f"{package}/fonts/VeraBd.ttf", size)


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


# A module stamp is drawn this many times larger, then reduced: its smooth edge.
STAMP_SUPERSAMPLE = 8


@lru_cache(maxsize=64)
def _module_stamp(style: str, scale: int) -> Image.Image:
    """One module, ``scale`` pixels square, with smooth edges. Reduced with Lanczos, as the
    whole grid was before (the grade's validation set was measured on its sharp edges); Pillow
    weighs only the pixels inside the stamp, so a shape that fills its cell keeps full ink at
    the cell's edge, where it meets its neighbour."""
    big = scale * STAMP_SUPERSAMPLE
    stamp = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(stamp)
    if style == "dots":
        pad = big * 0.06
        draw.ellipse((pad, pad, big - pad - 1, big - pad - 1), fill=255)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * ROUNDED_RADIUS, fill=255)
    return stamp.resize((scale, scale), Image.LANCZOS)


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
    # One smooth module is stamped on every dark one at about the picture's own module size
    # (one numpy product (n, scale, n, scale), not n² pastes), then the grid is resized to fit,
    # usually by a few pixels: drawing the grid twice as large and reducing it with Lanczos
    # cost five times more (7 of a styled code's 10 ms).
    np = _numpy()
    scale = max(4, math.ceil(target / n))
    stamp = np.asarray(_module_stamp(lay.module_style, scale))
    tiled = lay.modules.astype(np.uint8)[:, None, :, None] * stamp[None, :, None, :]
    mask = Image.frombytes("L", (n * scale, n * scale), tiled.tobytes())
    return mask if n * scale == target else mask.resize((target, target), Image.BILINEAR)


def render_png(lay: Layout, size: int) -> bytes:
    return encode_png(render_image(lay, size))


def is_plain(lay: Layout) -> bool:
    """Two flat colours and square modules and eyes, nothing else: every edge of the drawing
    lies on the module grid."""
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


_SHARED_BY_DESIGN: dict[tuple, tuple[Image.Image | None, Any]] = {}


def _shared_by_design(logo: Image.Image | None, what: tuple, make: Callable[[], Any]) -> Any:
    """``make()``, once per logo picture (None for what needs no logo) and ``what``, which
    holds every other input: the rows of a bulk run that share a design share the logo's
    fitted copy, its SVG data and the design's ground."""
    hit = _SHARED_BY_DESIGN.get((id(logo), *what))
    if hit is not None and hit[0] is logo:
        return hit[1]
    value = make()
    if len(_SHARED_BY_DESIGN) >= 32:
        _SHARED_BY_DESIGN.clear()
    _SHARED_BY_DESIGN[(id(logo), *what)] = (logo, value)
    return value


def _fitted_logo(logo: Image.Image, box: int) -> Image.Image:
    """The logo shrunk into its box."""
    def fit() -> Image.Image:
        fitted = logo.copy()
        fitted.thumbnail((box, box), Image.LANCZOS)
        return fitted

    return _shared_by_design(logo, ("fitted", box), fit)


# Grounds larger than this many pixels are drawn for each picture, not kept (a web worker
# asked for a 4,000-pixel PNG should not hold its ground).
GROUND_CACHE_PIXELS = 1024 * 1280


def _ground(lay: Layout, size: int, height: int) -> Image.Image:
    """What every code of a design shares at one size, drawn once (for pictures of up to
    ``GROUND_CACHE_PIXELS``) and copied for each: the background, the frame and its label,
    a quarter of the time a framed code's picture took. The modules, eyes and logo go on top;
    the label is below them, out of their reach."""
    px = size / lay.width

    def draw() -> Image.Image:
        image = Image.new("RGB", (size, height), _rgb(lay.background))
        pen = ImageDraw.Draw(image)
        for x, y, w, h, color, radius in lay.frame_shapes:
            box = (round(x * px), round(y * px), round((x + w) * px) - 1,
                   round((y + h) * px) - 1)
            pen.rounded_rectangle(box, radius=round(radius * px), fill=_rgb(color))
        if lay.text is not None:
            cx, baseline, font_size, color, text = lay.text
            # At least 8 pixels, to stay legible in a small picture, where that still fits.
            font = _font(max(8, round(font_size * px)))
            if font.getlength(text) > LABEL_WIDTH * size:
                font = _font(max(1, round(font_size * px)))
            pen.text((cx * px, baseline * px), text, font=font, fill=_rgb(color), anchor="ms")
        return image

    if size * height > GROUND_CACHE_PIXELS:
        return draw()
    what = ("ground", size, height, lay.width, lay.background, tuple(lay.frame_shapes),
            lay.text)
    return _shared_by_design(None, what, draw).copy()


def render_image(lay: Layout, size: int) -> Image.Image:
    """The picture, ``size`` pixels wide (the frame's label makes it taller)."""
    if is_plain(lay):
        return _plain_image(lay, size)
    px = size / lay.width
    image = _ground(lay, size, round(lay.height * px))
    origin = round(lay.code_origin * px)
    code_px = round((lay.code_origin + lay.n) * px) - origin
    image.paste(_rgb(lay.foreground), (origin, origin), _module_mask(lay, code_px))
    eye_scale = max(4, math.ceil(px * 2))
    for ex, ey in lay.eyes:
        left = origin + round(ex * px)
        top = origin + round(ey * px)
        side = origin + round((ex + 7) * px) - left
        image.paste(_rgb(lay.eye_color), (left, top), _eye_at(lay.eye_style, eye_scale, side))
    if lay.logo is not None:
        lx, ly, lsize, logo = lay.logo
        box = round(lsize * px)
        fitted = _fitted_logo(logo, box)
        left = round(lx * px) + (box - fitted.width) // 2
        top = round(ly * px) + (box - fitted.height) // 2
        image.paste(fitted, (left, top), fitted if fitted.mode == "RGBA" else None)
    return image


def encode_png(image: Image.Image) -> bytes:
    """A palette PNG when the picture allows it: three to ten times smaller than RGB."""
    palette = two_colour_palette(image)
    if palette is not None:
        return _two_colour_png(image, palette)
    colors = image.getcolors(256) if image.mode == "RGB" else None
    if colors is not None and len(colors) == 2:
        # The common case (flat square modules): map the two colours straight to a 1-bit
        # palette; a general quantizer costs ten times the rest of the render.
        (_, first), (_, second) = colors
        first_level, second_level = (Image.new("RGB", (1, 1), c).convert("L").getpixel((0, 0))
                                     for c in (first, second))
        if first_level != second_level:
            indexed = image.convert("L").point(lambda v: 0 if v == first_level else 1)
            return _two_colour_png(indexed, bytes((*first, *second)))
    if colors is not None:
        return _palette_png(image, [color for _, color in colors])
    if image.mode in _PNG_COLOUR_TYPES:
        return _full_colour_png(image)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=2)
    return buffer.getvalue()


def two_colour_palette(image: Image.Image) -> bytes | None:
    """A plain picture's two colours (``_plain_image``: palette indexes 0 and 1) as six RGB
    bytes; None for any other picture."""
    palette = image.getpalette() if image.mode == "P" else None
    return bytes(palette) if palette is not None and len(palette) == 6 else None


def _two_colour_png(indexes: Image.Image, palette: bytes) -> bytes:
    """A picture of palette indexes 0 and 1 as a one-bit palette PNG, eight pixels a byte."""
    np = _numpy()
    return _png(indexes.size, np.packbits(np.asarray(indexes), axis=1), _PALETTE_COLOUR_TYPE,
                palette, bit_depth=1)


_PALETTE_INDEX = threading.local()   # per thread: the job runner may draw beside a request


def _palette_png(image: Image.Image, colors: list[tuple[int, int, int]]) -> bytes:
    """An RGB picture of at most 256 colours (smooth edges between a few flat ones) as a
    palette PNG, every pixel its own colour exactly. Pillow's fast quantizer moved edge pixels
    by up to 14 levels and, with zlib's level 6, took 8 ms for a styled code; this takes 1.5.
    Each pixel's 24-bit colour indexes a table of palette entries."""
    np = _numpy()
    index = getattr(_PALETTE_INDEX, "table", None)
    if index is None:
        # 16 MiB of address space; only the pages of colours a picture uses are ever touched.
        index = _PALETTE_INDEX.table = np.zeros(1 << 24, np.uint8)
    keys = np.array([r | g << 8 | b << 16 for r, g, b in colors], np.uint32)
    index[keys] = np.arange(len(colors), dtype=np.uint8)
    # Pillow keeps an RGB pixel in four bytes: packed as RGBX, each is one 32-bit word once its
    # pad byte is masked off. One copy of the picture, where converting it and copying the
    # result into numpy took three times as long.
    pixels = np.frombuffer(image.tobytes("raw", "RGBX"), "<u4") & 0xFFFFFF
    return _png(image.size, index.take(pixels), _PALETTE_COLOUR_TYPE,
                np.array(colors, np.uint8).tobytes())


# PNG colour types (PNG specification, 11.2.2): of the modes written in full colour, and of
# a palette picture.
_PNG_COLOUR_TYPES = {"L": 0, "LA": 4, "RGB": 2, "RGBA": 6}
_PALETTE_COLOUR_TYPE = 3


def _full_colour_png(image: Image.Image) -> bytes:
    """Full colour (smoothed edges, a logo), eight bits a channel."""
    return _png(image.size, _numpy().asarray(image), _PNG_COLOUR_TYPES[image.mode])


def _png(size: tuple[int, int], pixels, colour_type: int, palette: bytes | None = None,
         bit_depth: int = 8) -> bytes:
    """A PNG of ``pixels`` (an array holding ``size``'s rows, packed), each row unfiltered and
    the rows deflated by ISA-L at its level 2. For a styled 512-pixel code in full colour
    that is a sixth of zlib's time for a file within 1 % (0.6 against 3.4 ms, which libvips
    spent in zlib; Pillow, trying every row filter on each row, took 8 ms); in a palette, and
    for a plain code in one bit a pixel, a smaller file than zlib's run-length level 6 in a
    fifth and in three quarters of its time (47 against 55 KB, 0.8 against 1.3 KB). No PNG
    encoder takes another compressor, so pypng writes the chunks around the deflated rows."""
    import png
    from isal import isal_zlib  # loaded by the first PNG drawn, not when the app imports

    np = _numpy()
    width, height = size
    rows = np.zeros((height, 1 + pixels.size // height), dtype=np.uint8)  # 0: filter None
    rows[:, 1:] = pixels.reshape(height, -1)
    chunks = [(b"IHDR", struct.pack("!2I5B", width, height, bit_depth, colour_type, 0, 0, 0))]
    if palette is not None:
        chunks.append((b"PLTE", palette))
    chunks += [(b"IDAT", isal_zlib.compress(rows, 2)), (b"IEND", b"")]
    buffer = io.BytesIO()
    png.write_chunks(buffer, chunks)
    return buffer.getvalue()


# -- SVG ----------------------------------------------------------------------------------------

# No number in a drawing comes near this (pages are at most 5,000 mm or 4,096 pixels wide);
# one that does is a bug, and ThorVG, which draws each SVG for its check, crashed on
# coordinates of 1e30, infinity or NaN.
MAX_COORDINATE = 1e6


@lru_cache(maxsize=8192)
def _num(value: float) -> str:
    # Cached: a styled SVG writes ~2,300 numbers, nearly all grid positions every code shares
    # (formatting them was a tenth of a styled bulk code's CPU).
    if not -MAX_COORDINATE <= value <= MAX_COORDINATE:     # NaN too
        raise ValueError(f"a coordinate out of any page: {value!r}")
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text   # resvg refuses a viewBox of "-0 -0 …"


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
        runs = _runs(lay.modules)
        if float(o).is_integer():   # no frame: whole numbers, written in half the time
            o = int(o)
            return "".join([f"M{o + x} {o + y}h{run}v1h-{run}z" for x, y, run in runs])
        return "".join([f"M{o + x:g} {o + y:g}h{run}v1h-{run}z" for x, y, run in runs])
    # Every module is the same shape: the path after its first point is relative, so it is
    # written once and repeated (a third of the cost of writing each one out).
    if lay.module_style == "dots":
        start_x, start_y, shape = 0.06, 0.5, _circle_path(0.5, 0.5, 0.44)
    else:
        start_x, start_y = ROUNDED_RADIUS, 0.0
        shape = _rounded_rect_path(0, 0, 1, 1, ROUNDED_RADIUS)
    tail = shape[shape.index("h" if lay.module_style != "dots" else "a"):]
    return "".join(f"M{_num(o + x + start_x)} {_num(o + y + start_y)}{tail}"
                   for x, y in lay.dark)


def _xml_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def render_svg(lay: Layout, size: int, paper: PrintSize | None = None) -> bytes:
    """``size`` pixels wide; or, with ``paper``, its trim ``paper.width_mm`` wide on a page
    that adds the bleed (the background carried past the trim) and crop marks."""
    if paper is None:
        height = size * lay.height / lay.width
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="{size}" height="{_num(height)}" viewBox="0 0 {_num(lay.width)} '
            f'{_num(lay.height)}" shape-rendering="geometricPrecision">',
            f'<rect width="{_num(lay.width)}" height="{_num(lay.height)}" '
            f'fill="{lay.background}"/>',
        ]
    else:
        out = _svg_print_page(lay, paper)
    out += _svg_drawing(lay)
    out.append("</svg>\n")
    return "".join(out).encode()


def _svg_print_page(lay: Layout, paper: PrintSize) -> list[str]:
    """The page's header in millimetres, the viewBox in module units around the trim (0, 0 is
    still the code's top-left corner), the bleed's background and the crop marks."""
    per_mm = lay.width / paper.width_mm          # modules per millimetre
    page_w, page_h = paper.page_mm(lay)
    margin, bleed = paper.margin_mm * per_mm, paper.bleed_mm * per_mm
    marks = "".join(f"M{_num(x1 * per_mm)} {_num(y1 * per_mm)}L{_num(x2 * per_mm)} "
                    f"{_num(y2 * per_mm)}" for x1, y1, x2, y2 in paper.crop_mark_lines(lay))
    title = _xml_escape(paper.describe(lay))
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{_num(page_w)}mm" height="{_num(page_h)}mm" viewBox="{_num(-margin)} '
        f'{_num(-margin)} {_num(page_w * per_mm)} {_num(page_h * per_mm)}" '
        f'shape-rendering="geometricPrecision" data-trim-width-mm="{_num(paper.width_mm)}" '
        f'data-trim-height-mm="{_num(paper.height_mm(lay))}" '
        f'data-bleed-mm="{_num(paper.bleed_mm)}">',
        f"<title>{title}</title>",
        f'<rect x="{_num(-bleed)}" y="{_num(-bleed)}" width="{_num(lay.width + 2 * bleed)}" '
        f'height="{_num(lay.height + 2 * bleed)}" fill="{lay.background}"/>',
    ]
    if marks:
        out.append(f'<path d="{marks}" fill="none" stroke="#000000" '
                   f'stroke-width="{_num(CROP_MARK_STROKE_MM * per_mm)}"/>')
    return out


def _svg_drawing(lay: Layout) -> list[str]:
    out = []
    for x, y, w, h, color, radius in lay.frame_shapes:
        out.append(f'<path d="{_rounded_rect_path(x, y, w, h, radius)}" fill="{color}"/>')
    out.append(f'<path d="{_module_paths(lay)}" fill="{lay.foreground}"/>')
    o = lay.code_origin
    eyes = "".join(_eye_paths(lay.eye_style, o + ex, o + ey) for ex, ey in lay.eyes)
    out.append(f'<path d="{eyes}" fill="{lay.eye_color}" fill-rule="evenodd"/>')
    if lay.logo is not None:
        lx, ly, lsize, logo = lay.logo
        data = _shared_by_design(logo, ("svg",), lambda: base64.b64encode(
            encode_png(logo.convert("RGBA"))).decode())
        out.append(f'<image x="{_num(lx)}" y="{_num(ly)}" width="{_num(lsize)}" '
                   f'height="{_num(lsize)}" preserveAspectRatio="xMidYMid meet" '
                   f'xlink:href="data:image/png;base64,{data}"/>')
    if lay.text is not None:
        cx, baseline, font_size, color, text = lay.text
        out.append(f'<text x="{_num(cx)}" y="{_num(baseline)}" font-size="{_num(font_size)}" '
                   f'font-family="Helvetica, Arial, sans-serif" font-weight="bold" '
                   f'text-anchor="middle" fill="{color}">{_xml_escape(text)}</text>')
    return out


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


KAPPA = 0.5523   # a quarter circle as one Bézier curve: control points this far along


def _pdf_rounded(x: float, y: float, w: float, h: float, r: float) -> str:
    """A (rounded) rectangle as PDF path operators, in module units (y down)."""
    if r <= 0:
        return f"{_num(x)} {_num(y)} {_num(w)} {_num(h)} re\n"
    r = min(r, w / 2, h / 2)
    k = r * (1 - KAPPA)
    x2, y2 = x + w, y + h
    n = _num
    return (f"{n(x + r)} {n(y)} m {n(x2 - r)} {n(y)} l {n(x2 - k)} {n(y)} {n(x2)} {n(y + k)} "
            f"{n(x2)} {n(y + r)} c {n(x2)} {n(y2 - r)} l {n(x2)} {n(y2 - k)} {n(x2 - k)} "
            f"{n(y2)} {n(x2 - r)} {n(y2)} c {n(x + r)} {n(y2)} l {n(x + k)} {n(y2)} {n(x)} "
            f"{n(y2 - k)} {n(x)} {n(y2 - r)} c {n(x)} {n(y + r)} l {n(x)} {n(y + k)} "
            f"{n(x + k)} {n(y)} {n(x + r)} {n(y)} c h\n")


def _pdf_circle(cx: float, cy: float, r: float) -> str:
    return _pdf_rounded(cx - r, cy - r, 2 * r, 2 * r, r)


@lru_cache(maxsize=4096)
def _pdf_module_in_row(style: str, x: int) -> str:
    """The path of the module in column ``x`` of a row whose top is at y = 0."""
    if style == "dots":
        return _pdf_circle(x + 0.5, 0.5, 0.44)
    return _pdf_rounded(x, 0, 1, 1, ROUNDED_RADIUS)


def _pdf_module_rows(lay: Layout) -> list[str]:
    """Each row of rounded modules or dots as one path, filled once, the rows a step apart
    (``cm`` adds up): every row's numbers are the columns', which zlib keeps short, and PDFium
    draws one fill a row in two thirds of the time one fill a module took. Modules that touch
    in a row are one shape; across rows they are bridged (``_pdf_joins``)."""
    o = lay.code_origin
    ops = [f"q 1 0 0 1 {_num(o)} {_num(o)} cm\n"]
    above = 0
    for y, row in enumerate(lay.modules.tolist()):
        columns = [x for x, dark in enumerate(row) if dark]
        if columns:
            ops.append(f"1 0 0 1 0 {y - above} cm ")
            ops.append("".join([_pdf_module_in_row(lay.module_style, x) for x in columns]))
            ops.append("f\n")
            above = y
    ops.append("Q\n")
    return ops


def _pdf_joins(lay: Layout) -> list[str]:
    """Where rounded modules touch across rows, a bar from the middle of the first of a column
    of them to the middle of the last, across their shared sides and inside them all: filled
    one row at a time, each row smooths its edge of a shared side, and viewers showed the two
    half-covered edges as a light seam (the PNG and the SVG, drawn in one piece, have none)."""
    o, r = lay.code_origin, ROUNDED_RADIUS
    bars = [f"{_num(o + x + r)} {_num(o + y + 0.5)} {_num(1 - 2 * r)} {run - 1} re\n"
            for y, x, run in _runs(lay.modules.T) if run > 1]
    return [*bars, "f\n"] if bars else []


def _pdf_eye_ops(style: str, x: float, y: float) -> str:
    if style == "circle":
        return "".join(_pdf_circle(x + 3.5, y + 3.5, r) for r in (3.5, 2.5, 1.5))
    outer, inner, ball = (0, 0, 0) if style == "square" else (2, 1.3, 1)
    return (_pdf_rounded(x, y, 7, 7, outer) + _pdf_rounded(x + 1, y + 1, 5, 5, inner)
            + _pdf_rounded(x + 2, y + 2, 3, 3, ball))


class _PdfLogo:
    """A logo's image and soft-mask streams, compressed once per logo picture: every row of
    a bulk run that shares the design reuses them."""

    _cache: dict[int, tuple[Image.Image, tuple[bytes, bytes, int, int]]] = {}

    @classmethod
    def streams(cls, logo: Image.Image) -> tuple[bytes, bytes, int, int]:
        hit = cls._cache.get(id(logo))
        if hit is not None and hit[0] is logo:
            return hit[1]
        rgba = logo.convert("RGBA")
        rgb = zlib.compress(rgba.convert("RGB").tobytes(), 6)
        alpha = zlib.compress(rgba.getchannel("A").tobytes(), 6)
        value = (rgb, alpha, rgba.width, rgba.height)
        if len(cls._cache) >= 8:
            cls._cache.clear()
        cls._cache[id(logo)] = (logo, value)
        return value


def _pdf_text(text: str) -> bytes | None:
    """The label as a PDF string in WinAnsi (Helvetica's encoding); None when it has
    characters outside it (ReportLab draws those)."""
    try:
        raw = text.encode("cp1252")
    except UnicodeEncodeError:
        return None
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _direct_pdf(lay: Layout, size: int) -> bytes | None:
    """The page written directly in module units: runs of square modules as rectangles,
    rounded modules and dots one path a row (rounded ones that touch across
    rows bridged: ``_pdf_joins``), eyes, frame, logo (an image with a soft mask) and label
    (Helvetica Bold). A tenth of ReportLab's cost, which the bulk job pays for every row.
    None when the label needs more than WinAnsi."""
    label = _pdf_text(lay.text[4]) if lay.text is not None else b""
    if label is None:
        return None
    unit = size * 0.75 / lay.width
    page_w, page_h = lay.width * unit, lay.height * unit
    o = lay.code_origin
    ops = [f"{_num(unit)} 0 0 {_num(-unit)} 0 {_num(page_h)} cm\n",
           f"{_pdf_color(lay.background)} rg 0 0 {_num(lay.width)} {_num(lay.height)} re f\n"]
    for x, y, w, h, color, radius in lay.frame_shapes:
        ops.append(f"{_pdf_color(color)} rg {_pdf_rounded(x, y, w, h, radius)}f\n")
    ops.append(f"{_pdf_color(lay.foreground)} rg\n")
    resources = []
    extra: list[bytes] = []           # objects after the fixed five: numbered from 6
    if lay.module_style == "square":
        ops += [f"{_num(o + x)} {_num(o + y)} {run} 1 re\n" for x, y, run in _runs(lay.modules)]
        ops.append("f\n")
    else:
        ops += _pdf_module_rows(lay)
        if lay.module_style == "rounded":
            ops += _pdf_joins(lay)
    if lay.eyes:
        ops.append(f"{_pdf_color(lay.eye_color)} rg\n")
        ops += [_pdf_eye_ops(lay.eye_style, o + ex, o + ey) for ex, ey in lay.eyes]
        ops.append("f*\n")     # even-odd: the ring's hole
    if lay.logo is not None:
        lx, ly, lsize, logo = lay.logo
        rgb, alpha, width, height = _PdfLogo.streams(logo)
        extra.append(f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
                     f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
                     f"/Length {len(alpha)} >>\nstream\n".encode() + alpha + b"\nendstream")
        mask = 5 + len(extra)
        extra.append(f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
                     f"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
                     f"/SMask {mask} 0 R /Length {len(rgb)} >>\nstream\n".encode() + rgb
                     + b"\nendstream")
        resources.append(f"/L {5 + len(extra)} 0 R")
        scale = lsize / max(width, height)      # fitted in its box, centred
        w, h = width * scale, height * scale
        left, top = lx + (lsize - w) / 2, ly + (lsize - h) / 2
        ops.append(f"q {_num(w)} 0 0 {_num(-h)} {_num(left)} {_num(top + h)} cm /L Do Q\n")
    fonts = ""
    if lay.text is not None and label:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        cx, baseline, font_size, color, text = lay.text
        extra.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
                     b"/Encoding /WinAnsiEncoding >>")
        fonts = f"/Font << /F1 {5 + len(extra)} 0 R >>"
        left = cx - stringWidth(text, "Helvetica-Bold", font_size) / 2
        ops.append(f"{_pdf_color(color)} rg BT /F1 {_num(font_size)} Tf 1 0 0 -1 "
                   f"{_num(left)} {_num(baseline)} Tm ")
        ops.append(label.decode("latin-1") + " Tj ET\n")
    content = "".join(ops).encode("latin-1")
    # zlib's third level: a styled page's ~100 KB of operators in a third of the sixth's time
    # (0.08 against 0.26 ms), the file 0.6 KB larger.
    stream = zlib.compress(content, 3)
    xobjects = f"/XObject << {' '.join(resources)} >>" if resources else ""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_num(page_w)} {_num(page_h)}] "
        f"/Resources << {xobjects} {fonts} >> /Contents 4 0 R >>".encode(),
        f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream
        + b"\nendstream",
        b"<< /Title (QR code) /Producer (QR Platform) >>",
        *extra,
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def render_pdf(lay: Layout, size: int, paper: PrintSize | None = None) -> bytes:
    """A one-page vector PDF, ``size`` CSS pixels wide (size x 0.75 points); or, with
    ``paper``, its trim ``paper.width_mm`` wide with a bleed and crop marks (``_print_pdf``)."""
    if paper is not None:
        return _print_pdf(lay, paper)
    direct = _direct_pdf(lay, size)
    if direct is not None:
        return direct
    unit = size * 0.75 / lay.width      # points per module
    page_w, page_h = lay.width * unit, lay.height * unit
    buffer = io.BytesIO()
    pdf = _canvas(buffer, page_w, page_h)
    pen = _PdfPen(pdf, unit, page_h)
    pen.fill(lay.background)
    pdf.rect(0, 0, page_w, page_h, stroke=0, fill=1)
    _pdf_drawing(pen, lay)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _print_pdf(lay: Layout, paper: PrintSize) -> bytes:
    """The print page: MediaBox = trim + bleed + crop marks, with TrimBox and BleedBox set
    (what imposition software reads) and the size in the document's subject and keywords."""
    mm = 72 / MM_PER_INCH
    page_w, page_h = (side * mm for side in paper.page_mm(lay))
    margin, bleed = paper.margin_mm * mm, paper.bleed_mm * mm
    trim_w, trim_h = paper.width_mm * mm, paper.height_mm(lay) * mm
    buffer = io.BytesIO()
    pdf = _canvas(buffer, page_w, page_h)
    pdf.setSubject(paper.describe(lay))
    pdf.setKeywords(paper.keywords(lay))
    pdf.setTrimBox((margin, margin, margin + trim_w, margin + trim_h))
    pdf.setBleedBox((margin - bleed, margin - bleed, margin + trim_w + bleed,
                     margin + trim_h + bleed))
    r, g, b = _rgb(lay.background)
    pdf.setFillColorRGB(r / 255, g / 255, b / 255)
    pdf.rect(margin - bleed, margin - bleed, trim_w + 2 * bleed, trim_h + 2 * bleed,
             stroke=0, fill=1)
    lines = paper.crop_mark_lines(lay)
    if lines:
        # Registration black (every separation), hairline: the marks show on every plate.
        pdf.setStrokeColorCMYK(1, 1, 1, 1)
        pdf.setLineWidth(CROP_MARK_STROKE_MM * mm)
        for x1, y1, x2, y2 in lines:   # millimetres from the trim's top-left, y down
            pdf.line(margin + x1 * mm, margin + trim_h - y1 * mm,
                     margin + x2 * mm, margin + trim_h - y2 * mm)
    pdf.translate(margin, margin)
    _pdf_drawing(_PdfPen(pdf, trim_w / lay.width, trim_h), lay)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _canvas(buffer: io.BytesIO, page_w: float, page_h: float):
    """A ReportLab page (points) that always writes the same bytes for the same drawing (its
    dates fixed: images are cached by what they show), titled as the direct PDF is, and with
    none of ReportLab's placeholders ("anonymous" author and creator, "unspecified"
    subject)."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(buffer, pagesize=(page_w, page_h), pageCompression=1, invariant=1)
    pdf.setTitle("QR code")
    pdf.setAuthor("")
    pdf.setSubject("")
    pdf.setCreator("QR Platform")
    return pdf


def _pdf_drawing(pen: _PdfPen, lay: Layout) -> None:
    pdf = pen.pdf
    for x, y, w, h, color, radius in lay.frame_shapes:
        pen.fill(color)
        pen.box(pdf, x, y, w, h, radius, stroke=0, fill=1)
    _pdf_modules(pen, lay)
    _pdf_eyes(pen, lay)
    _pdf_logo_and_text(pen, lay)


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
            path.roundRect((o + x) * unit, pen.y(o + y, 1), unit, unit,
                           ROUNDED_RADIUS * unit)
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


def render(lay: Layout, fmt: str, size: int, paper: PrintSize | None = None) -> bytes:
    if paper is not None:
        if fmt not in PRINT_FORMATS:
            raise ValueError("a physical size is for SVG and PDF")
        return PAINTERS[fmt](lay, size, paper)
    return PAINTERS[fmt](lay, size)


def load_logo(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGBA")
