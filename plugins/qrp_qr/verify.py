"""The scannability guarantee: colours that a camera can tell apart, and a real decode.

``check_colors`` refuses low contrast and inverted codes (light modules on a dark ground: many
phone cameras do not read them). ``check_decodes`` reads the rendered picture with zxing-cpp,
the decoder inside many scanner apps, with inverted reading switched off, and demands the exact
payload back; ``check_export`` does the same for an SVG or PDF drawn by ThorVG or PDFium. A
refusal says why and what to change.
"""

from __future__ import annotations

import threading
import time
import xml.parsers.expat
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PIL import Image, ImageFilter

from qrp_qr import render

# WCAG's contrast ratio; below about 3:1 cheap phone cameras in poor light start to fail.
MIN_CONTRAST = 3.0
# Checked at this many pixels per module: a small print seen from a phone's distance.
CHECK_PIXELS_PER_MODULE = 4
# An SVG or PDF is drawn for its check at these many pixels a module, in turn, until one
# decodes: the check is of the file (does a standard renderer draw the layout whose far,
# blurred print ``check_decodes`` has read), and a file that draws the layout decodes at one
# of them. A decoder's verdict on a borderline code can hang on the scale alone: of 516
# random designs whose PNG passes, 6 PDFs (large codes beside a big logo) failed at three
# pixels a module and decoded at two and four; 8 % fail at two, which is tried first for
# being the quickest (a styled code's SVG in four fifths of the time three take).
EXPORT_PIXELS_PER_MODULE = (2, 3, 4)


class Unscannable(ValueError):
    """A design or content that would not scan; ``field`` is the design field to change."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def _luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = render._rgb(color)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_ratio(first: str, second: str) -> float:
    a, b = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def check_colors(design: dict) -> None:
    design = render.normalise_design(design)
    background = design["background"]
    for name, label in (("foreground", "foreground"), ("eye_color", "eye colour")):
        color = design[name] or design["foreground"]
        if _luminance(color) > _luminance(background):
            raise Unscannable(
                f"The {label} ({color}) is lighter than the background ({background}): many "
                "phone cameras cannot read inverted codes. Use a dark colour on a light "
                "background.", name)
        ratio = contrast_ratio(color, background)
        if ratio < MIN_CONTRAST:
            raise Unscannable(
                f"The {label} ({color}) and the background ({background}) are too close "
                f"(contrast {ratio:.1f}:1; at least {MIN_CONTRAST:.0f}:1 is needed). Darken the "
                f"{label} or lighten the background.", name)
    if design["frame"] == "box" and design["frame_text"]:
        frame = design["frame_color"] or design["foreground"]
        if contrast_ratio(frame, background) < MIN_CONTRAST:
            raise Unscannable(
                f"The frame's text ({background} on {frame}) would be hard to read; pick a "
                "darker frame colour.", "frame_color")


def _advice(design: dict) -> str:
    hints = []
    if design["logo"]:
        hints.append("make the logo smaller")
    if design["quiet_zone"] < 2:
        hints.append("widen the quiet zone to at least 2 modules")
    if design["eye_style"] != "square":
        hints.append("use square or rounded eyes")
    if design["module_style"] == "dots":
        hints.append("use square or rounded modules")
    if design["error_correction"] in {"L", "M"} and not design["logo"]:
        hints.append("raise the error correction")
    return ("Try to " + ", or ".join(hints) + ".") if hints else "Try the default design."


def decode(image: Image.Image | Any, *, pure: bool = False, two_tone: bool = False,
           downscale: bool = True) -> list[str]:
    """What a decoder reads in a picture or a grey array; ``pure``: the picture is nothing but
    the code, straight from a painter (zxing-cpp then skips looking for it: a third faster);
    ``two_tone``: it is black and white (``_two_tone``) and needs no threshold of its own;
    ``downscale``: zxing-cpp also searches smaller copies of a large picture."""
    import zxingcpp  # loaded by the first decode, not when the app imports

    binarizer = zxingcpp.Binarizer.BoolCast if two_tone else zxingcpp.Binarizer.LocalAverage
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode,
                                     try_invert=False, text_mode=zxingcpp.TextMode.Plain,
                                     is_pure=pure, binarizer=binarizer,
                                     try_downscale=downscale)
    return [result.text for result in results]


def _two_tone(image: Image.Image) -> tuple[Any, list[int]] | None:
    """A picture of two palette colours (``render``'s plain pictures) split exactly between
    them, a grey array black (0) where the darker is and white where the lighter is, and the
    look-up table that turns black, white or any average of them into the picture's own grey
    levels. The indexes are the split, no pixel's colour converted: a plain code's check takes
    0.9 ms instead of 1.2."""
    palette = render.two_colour_palette(image)
    if palette is None:
        return None
    first, second = Image.frombytes("RGB", (2, 1), palette).convert("L").tobytes()
    if first == second:
        return None
    indexes = render._numpy().frombuffer(image.tobytes(), "uint8").reshape(
        image.height, image.width)
    return (indexes ^ (first > second)) * 255, _levels(*sorted((first, second)))


@lru_cache(maxsize=64)
def _levels(dark: int, light: int) -> list[int]:
    return [round(dark + (light - dark) * v / 255) for v in range(256)]


def _code_alone(design: dict) -> bool:
    """The picture is the code and its quiet zone, nothing around them: a pure read can find
    it (around a frame it never does, and trying cost a styled code a tenth of its check)."""
    return design["frame"] != "box"


def _read(payload: str, image: Image.Image, first: list[str]) -> list[str]:
    """What a decoder reads in ``image``: ``first`` (a pure read's texts) when it holds the
    payload, else what the full detector finds. The picture at its own size first: zxing-cpp
    searches its smaller copies even after it has found the code there (two fifths of a framed
    code's read), and few pictures need them (1 of 600 styled designs: dots beside a big
    logo)."""
    if payload in first:
        return first
    texts = decode(image, downscale=False)
    return texts if payload in texts else decode(image)


@dataclass
class Verdict:
    decoded: str
    milliseconds: float


def check_decodes(payload: str, image: Image.Image, design: dict,
                  modules: float | None = None) -> Verdict:
    """Decode the picture as it is, then once more small and slightly blurred (a phone far
    away, never perfectly in focus); both must give back exactly the payload.

    ``modules``: the picture's width in modules, to shrink it to the check's print size."""
    started = time.perf_counter()
    design = render.normalise_design(design)
    # Grey is what a decoder reads: blurring and reading one channel, not three, made the
    # check of a styled (full-colour) code 5.2 ms instead of 2.1.
    two_tone = _two_tone(image)
    if two_tone is not None:
        split, levels = two_tone
        image = Image.fromarray(split)
    else:
        image = image if image.mode == "L" else image.convert("L")
    small = image
    if modules:
        width = max(render.MIN_SIZE, round(modules * CHECK_PIXELS_PER_MODULE))
        if image.width > width:
            # BOX averages whole pixels: the soft look of a far print, at a tenth of LANCZOS's
            # cost. ``reducing_gap``: whole blocks of pixels averaged first (Pillow's reduce),
            # then the rest, in half the time; over 972 designs and sizes one borderline
            # decode came out otherwise.
            small = image.resize((width, round(image.height * width / image.width)), Image.BOX,
                                 reducing_gap=1.0)
    if two_tone is not None:
        small = small.point(levels)   # averages of black and white map straight to the colours'
    # Our own sharp picture is read as a pure code first unless a frame surrounds it; a
    # picture a pure read misses (a logo) goes to the full detector, as the blurred one always
    # does.
    if not _code_alone(design):
        first = []
    elif two_tone is not None:
        first = decode(split, pure=True, two_tone=True)   # an array: zxing-cpp copies no Image
    else:
        first = decode(image, pure=True)
    for attempt, pure_texts in ((image, first),
                                (small.filter(ImageFilter.GaussianBlur(radius=1)), [])):
        texts = _read(payload, attempt, pure_texts)
        if payload not in texts:
            if texts:
                raise Unscannable("The code decodes to something else than its content; "
                                  + _advice(design))
            raise Unscannable("A QR decoder cannot read this design. " + _advice(design))
    return Verdict(payload, (time.perf_counter() - started) * 1000)


# -- the vector exports --------------------------------------------------------------------------

# PDFium is not thread-safe; the embedded job runner and the web process share threads.
_pdfium_lock = threading.Lock()


_thorvg_lock = threading.Lock()   # ThorVG's loaders share caches between canvases


@lru_cache(maxsize=1)
def _thorvg():
    """ThorVG's engine, started once in each process (its threads: none, the caller's only)."""
    import thorvg_python

    return thorvg_python, thorvg_python.Engine(threads=0)


def _draw_svg(data: bytes, width: int) -> Image.Image:
    """ThorVG (the SVG engine of Godot, LVGL and Tizen) draws the file on white, ``width``
    pixels wide. resvg, used before, took 3.7 ms for a styled code at three pixels a module,
    ThorVG 1.6: the binding on PyPI builds resvg for size, not speed."""
    try:
        # ThorVG 1.0 reads past the end of an unclosed element (a truncated file crashed the
        # process): only a well-formed file reaches it. expat checks a styled code's 80 KB in
        # 0.17 ms.
        xml.parsers.expat.ParserCreate().Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise ValueError(f"it is not well-formed XML ({exc})") from exc
    tvg, engine = _thorvg()
    with _thorvg_lock:
        canvas = tvg.SwCanvas(engine)
        try:
            picture = tvg.Picture(engine)
            canvas.add(picture)   # the canvas owns what it holds: freed with it, drawn or not
            if picture.load_data(data, "svg", None, True) != tvg.Result.SUCCESS:
                raise ValueError("ThorVG cannot read it")
            _, page_width, page_height = picture.get_size()
            # Without a size of its own ThorVG reports whatever its memory held.
            if not (0 < page_width < 1e6 and 0 < page_height < 64 * page_width):
                raise ValueError("it has no usable size")
            height = max(1, round(page_height * width / page_width))
            picture.set_size(width, height)
            ground = tvg.Shape(engine)
            ground.append_rect(0, 0, width, height, 0, 0, True)
            ground.set_fill_color(255, 255, 255, 255)
            canvas.insert(ground, picture)
            canvas.set_target(width, height)
            if canvas.draw(True) != tvg.Result.SUCCESS or canvas.sync() != tvg.Result.SUCCESS:
                raise ValueError("ThorVG cannot draw it")
            return Image.frombuffer("RGBA", (width, height), bytes(canvas.buffer_arr), "raw",
                                    "RGBA", 0, 1).convert("L")
        finally:
            canvas.destroy()


def rasterise(data: bytes, fmt: str, width: int) -> Image.Image:
    """An SVG or PDF drawn ``width`` pixels wide, grey, on white, by a maintained renderer that
    is not ours: ThorVG for SVG, PDFium (Chrome's) for PDF. Raises ValueError when it cannot."""
    if fmt == "svg":
        return _draw_svg(data, width)
    import pypdfium2

    with _pdfium_lock:
        try:
            document = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            raise ValueError(f"PDFium cannot open it ({exc})") from exc
        try:
            if len(document) != 1:
                raise ValueError(f"{len(document)} pages instead of one")
            page = document[0]
            page_width, _ = page.get_size()
            image = page.render(scale=width / max(page_width, 1), grayscale=True,
                                fill_color=(255, 255, 255, 255)).to_pil().convert("L")
            page.close()
            return image
        finally:
            document.close()


def check_export(payload: str, data: bytes, fmt: str, design: dict, modules: float, *,
                 on_grid: bool = False) -> float:
    """An SVG or PDF must decode to exactly the payload too, drawn at each scale of
    EXPORT_PIXELS_PER_MODULE in turn until one does (``modules``: the page's width in modules,
    margins of a print export included). Returns the milliseconds spent; raises Unscannable
    (field ``format``) saying what broke.

    ``on_grid``: every edge of the drawing lies on the module grid and the page is the code
    (``render.is_plain``, no print margins). It is then drawn at one pixel a module, which
    draws each module exactly: more pixels would show nothing more, and the renderers' time
    grows with them (ThorVG takes half as long again at two, twice as long at three). Codes of
    every version, error correction and quiet zone (144 of them) all decoded so."""
    started = time.perf_counter()
    label = fmt.upper()
    design = render.normalise_design(design)
    if on_grid and float(modules).is_integer():
        widths = [int(modules)]
    else:
        widths = sorted({max(render.MIN_SIZE, round(modules * pixels))
                         for pixels in EXPORT_PIXELS_PER_MODULE})
    for width in widths:
        try:
            image = rasterise(data, fmt, width)
        except ValueError as exc:
            raise Unscannable(f"The {label} file is broken: {exc}. It was not saved; download "
                              "the PNG, or try again.", "format") from exc
        texts = _read(payload, image, decode(image, pure=True) if _code_alone(design) else [])
        if payload in texts:
            break
    else:
        what = "decodes to something else" if texts else "does not decode"
        advice = _advice(design)
        raise Unscannable(f"The {label} file {what} when drawn by a standard renderer, so it "
                          f"was not saved. Download the PNG, or {advice[0].lower()}"
                          f"{advice[1:]}", "format")
    return (time.perf_counter() - started) * 1000


def check_design(payload: str, design: dict, logo: Image.Image | None = None) -> Verdict:
    """The whole check: colours, then a decode of the design at a small print size."""
    check_colors(design)
    lay = render.layout(payload, design, logo)
    size = max(render.MIN_SIZE, round(lay.width * CHECK_PIXELS_PER_MODULE))
    return check_decodes(payload, render.render_image(lay, size), design, lay.width)
