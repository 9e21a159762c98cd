"""How well a design scans in the real world: a robustness grade from A to E.

``verify`` proves that a sharp picture of a code decodes. A printed code is read by a phone at
an angle, out of focus, in a dim room, half under a thumb. ``grade()`` draws the design once
and photographs it badly on purpose: blurred (three radii), tilted (15°, 30°, 45°), rotated,
saved as a cheap JPEG, dim and noisy, with a corner covered, on a busy page, and far away
(few camera pixels per module). zxing-cpp, the decoder inside many scanner apps, reads each
picture. The grade is the share of pictures that decode, weighted by how often phones meet
each condition; every failing condition is named with what to change.

Deterministic: every random choice (noise, the clutter of a busy page) comes from a fixed seed,
so a design always gets the same grade. Fast enough for the live editor (bench/scan_grade.py):
the pictures are small (a camera's view of the code, a few pixels per module) and grey, and
each transform is one Pillow or numpy pass.

The smallest module size that still decodes (``min_module_px``, in camera pixels) is what
print guidance (``printsize``) turns into centimetres.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter

from qrp_qr import render

GRADE_VERSION = 2          # bump when conditions, weights or thresholds change
LEVELS = ("A", "B", "C", "D", "E")
# The weighted share of conditions that must decode for each level; A: every one.
THRESHOLDS = (("A", 1.0), ("B", 0.85), ("C", 0.70), ("D", 0.50))
REFUSED = "E"   # refused like low contrast: phones would fail more often than not
WARNED = "D"

SOURCE_PX = 8.0     # the design is drawn once at this many pixels per module
CAMERA_PX = 4.0     # what a phone typically sees of a module when the code fills a fifth of
                    # its view: every condition is photographed at this density unless it says
# The ladder of camera densities tried for the smallest readable module (print guidance).
MODULE_PX_LADDER = (3.0, 2.5, 2.0, 1.7, 1.5, 1.3)


@dataclass(frozen=True)
class Condition:
    key: str
    label: str            # reads after "fails …": "at 30° tilt"
    weight: float         # how common among real scans (relative)
    kind: str             # what it stresses, for the advice: geometry, focus, light, cover,
                          # surroundings, distance
    shoot: Callable[[Scene], np.ndarray]


@dataclass
class Scene:
    """The design as drawn (grey, SOURCE_PX per module) and where its code sits."""

    image: Image.Image       # mode L
    px: float                # source pixels per module
    code_box: tuple[int, int, int, int]   # the module area (left, top, right, bottom)
    paper: int               # the background's grey
    ink: int                 # the foreground's grey
    width_modules: float = 0.0   # the picture's width in modules (quiet zone, frame)


# -- the camera -----------------------------------------------------------------------------

def _camera(image: Image.Image, source_px: float, camera_px: float) -> Image.Image:
    """What a sensor records: the picture averaged down to ``camera_px`` per module."""
    scale = camera_px / source_px
    size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
    return image.resize(size, Image.BOX)


def _framed(scene: Scene, margin_modules: float = 2.0, fill: int | None = None) -> Image.Image:
    """The picture on a sheet of its own paper (``fill``) a little larger than itself, as a
    phone sees it: room for a tilt or a rotation to move the corners."""
    margin = round(margin_modules * scene.px)
    out = Image.new("L", (scene.image.width + 2 * margin, scene.image.height + 2 * margin),
                    scene.paper if fill is None else fill)
    out.paste(scene.image, (margin, margin))
    return out


def _plain(scene: Scene, camera_px: float = CAMERA_PX) -> Image.Image:
    return _camera(_framed(scene), scene.px, camera_px)


def _blur(modules: float) -> Callable[[Scene], np.ndarray]:
    def shoot(scene: Scene) -> np.ndarray:
        picture = _plain(scene)
        return np.asarray(picture.filter(ImageFilter.GaussianBlur(modules * CAMERA_PX)))
    return shoot


def _perspective_coefficients(source: list[tuple[float, float]],
                              target: list[tuple[float, float]]) -> list[float]:
    """Pillow's PERSPECTIVE data: maps each ``target`` corner back to its ``source`` corner."""
    rows, values = [], []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    return np.linalg.solve(np.array(rows, dtype=float), np.array(values, dtype=float)).tolist()


def _tilt(degrees: float) -> Callable[[Scene], np.ndarray]:
    """The print turned about its vertical axis, seen by a camera at twice its width: one side
    foreshortened and smaller than the other, as a poster seen from the side."""
    def shoot(scene: Scene) -> np.ndarray:
        sheet = _framed(scene)
        w, h = sheet.size
        angle = math.radians(degrees)
        distance = 2.0 * w
        corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
        projected = []
        for x, y in corners:
            dx, dy = x - w / 2, y - h / 2
            depth = distance + dx * math.sin(angle)
            projected.append((distance * dx * math.cos(angle) / depth,
                              distance * dy / depth))
        left = min(p[0] for p in projected)
        top = min(p[1] for p in projected)
        projected = [(x - left, y - top) for x, y in projected]
        size = (math.ceil(max(p[0] for p in projected)), math.ceil(max(p[1] for p in projected)))
        tilted = sheet.transform(size, Image.PERSPECTIVE,
                                 _perspective_coefficients(corners, projected),
                                 Image.BILINEAR, fillcolor=scene.paper)
        # The near side keeps CAMERA_PX per module; the far side shrinks as in a photograph.
        return np.asarray(_camera(tilted, scene.px, CAMERA_PX))
    return shoot


def _rotation(degrees: float) -> Callable[[Scene], np.ndarray]:
    def shoot(scene: Scene) -> np.ndarray:
        picture = _plain(scene, CAMERA_PX * 1.5)
        return np.asarray(_camera(picture.rotate(degrees, Image.BILINEAR, expand=True,
                                                 fillcolor=scene.paper),
                                  CAMERA_PX * 1.5, CAMERA_PX))
    return shoot


def _jpeg(quality: int) -> Callable[[Scene], np.ndarray]:
    """A photo shared through a messenger: strong JPEG compression."""
    def shoot(scene: Scene) -> np.ndarray:
        buffer = io.BytesIO()
        _plain(scene).save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        return np.asarray(Image.open(buffer).convert("L"))
    return shoot


def _dim(picture: np.ndarray, seed: int) -> np.ndarray:
    """A dim room: the range squeezed into the dark (gamma 2, white at 40 %) and the
    sensor's noise that comes with a high ISO."""
    light = (picture.astype(np.float32) / 255.0) ** 2.0 * 90.0 + 12.0
    light += np.random.default_rng(seed).normal(0.0, 8.0, picture.shape).astype(np.float32)
    return np.clip(light, 0, 255).astype(np.uint8)


def _dim_light(scene: Scene) -> np.ndarray:
    return _dim(np.asarray(_plain(scene).filter(ImageFilter.GaussianBlur(0.5))), seed=19)


def _angle_in_dim_light(scene: Scene) -> np.ndarray:
    """The glossy flyer in a bar: 30° tilt, dim, a little out of focus."""
    tilted = Image.fromarray(_tilt(30)(scene))
    return _dim(np.asarray(tilted.filter(ImageFilter.GaussianBlur(0.15 * CAMERA_PX))), seed=7)


def _corner_covered(scene: Scene) -> np.ndarray:
    """A thumb over the corner that holds no finder pattern (covering a finder defeats every
    decoder): a quarter disc, 0.3 of the code's side in radius."""
    sheet = _framed(scene)
    margin = (sheet.width - scene.image.width) // 2
    left, _top, right, bottom = scene.code_box
    side = round((right - left) * 0.3)
    right, bottom = right + margin, bottom + margin
    draw = ImageDraw.Draw(sheet)
    draw.ellipse((right - side, bottom - side, right + side, bottom + side), fill=150)
    return np.asarray(_camera(sheet, scene.px, CAMERA_PX))


def _busy_page(scene: Scene) -> np.ndarray:
    """The code printed among other things: module-sized marks up to the edge of the
    picture (where a missing quiet zone lets them touch the code), photographed at 15° and a
    little out of focus."""
    margin = round(3 * scene.px)
    unit = round(scene.px)
    height, width = scene.image.height + 2 * margin, scene.image.width + 2 * margin
    marks = np.random.default_rng(1919).random((height // unit + 1, width // unit + 1)) < 0.5
    page = np.kron(marks, np.ones((unit, unit), dtype=bool))[:height, :width]
    sheet = Image.fromarray(np.where(page, scene.ink, scene.paper).astype(np.uint8))
    sheet.paste(scene.image, (margin, margin))
    seen = Image.fromarray(_tilt(15)(Scene(sheet, scene.px, scene.code_box, scene.paper,
                                           scene.ink)))
    return np.asarray(seen.filter(ImageFilter.GaussianBlur(0.2 * CAMERA_PX)))


def _glare(scene: Scene) -> np.ndarray:
    """A glossy print under a lamp: a bright spot over the data, which washes a pale
    foreground out entirely while dark ink still shows through."""
    picture = np.asarray(_plain(scene)).astype(np.float32)
    scale = CAMERA_PX / scene.px
    left, top, right, _bottom = (edge * scale for edge in scene.code_box)
    margin = 2 * CAMERA_PX  # _framed's paper
    side = right - left
    x0, y0 = margin + left + side * 0.62, margin + top + side * 0.58
    spread = 0.16 * side
    ys, xs = np.ogrid[0:picture.shape[0], 0:picture.shape[1]]
    spot = 180.0 * np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * spread * spread))
    return np.clip(picture + spot, 0, 255).astype(np.uint8)


def _far(camera_px: float) -> Callable[[Scene], np.ndarray]:
    """Far away: few camera pixels per module, and the focus never perfect."""
    def shoot(scene: Scene) -> np.ndarray:
        picture = _plain(scene, camera_px)
        return np.asarray(picture.filter(ImageFilter.GaussianBlur(0.35 * camera_px)))
    return shoot


CONDITIONS: tuple[Condition, ...] = (
    Condition("blur_slight", "slightly out of focus", 3, "focus", _blur(0.25)),
    Condition("blur_medium", "out of focus", 2, "focus", _blur(0.38)),
    Condition("blur_strong", "badly out of focus", 1, "focus", _blur(0.45)),
    Condition("tilt_15", "at 15° tilt", 3, "geometry", _tilt(15)),
    Condition("tilt_30", "at 30° tilt", 2, "geometry", _tilt(30)),
    Condition("tilt_45", "at 45° tilt", 1, "geometry", _tilt(45)),
    Condition("rotated", "rotated 25°", 2, "geometry", _rotation(25)),
    Condition("jpeg", "as a low-quality JPEG", 1, "light", _jpeg(10)),
    Condition("dim", "in dim light", 2, "light", _dim_light),
    Condition("glare", "under glare on glossy paper", 2, "light", _glare),
    Condition("angle_dim", "at an angle in dim light", 1, "light", _angle_in_dim_light),
    Condition("corner", "with a corner covered", 1, "cover", _corner_covered),
    Condition("busy", "printed on a busy page", 1, "surroundings", _busy_page),
    Condition("far", "from far away", 2, "distance", _far(2.2)),
    Condition("very_far", "from very far away", 1, "distance", _far(1.6)),
)
TOTAL_WEIGHT = sum(c.weight for c in CONDITIONS)


# -- the grade ------------------------------------------------------------------------------

@dataclass
class Grade:
    grade: str
    score: float                       # weighted share that decoded, 0..1
    failing: list[dict[str, str]] = field(default_factory=list)
    min_module_px: float | None = None   # smallest camera pixels per module that decode
    width_modules: float = 0.0          # the design's width in modules, for print sizes
    milliseconds: float = 0.0
    version: int = GRADE_VERSION

    @property
    def refused(self) -> bool:
        return self.grade == REFUSED

    @property
    def summary(self) -> str:
        if not self.failing:
            return "Decodes under every condition we test: at an angle, out of focus, in dim " \
                   "light, far away."
        return "Fails " + "; fails ".join(f"{f['label']}: {f['advice']}"
                                          for f in self.failing[:3]) + "."

    @property
    def warning(self) -> str | None:
        """Said with a D (and, as the refusal, with an E)."""
        if self.grade not in (WARNED, REFUSED):
            return None
        return (f"Scan grade {self.grade}: many phones will fail to read this code in real "
                f"conditions. {self.summary}")

    @property
    def refusal(self) -> str:
        """Why an E is refused."""
        return (f"Phones would fail to read this design more often than not (scan grade "
                f"{self.grade}). {self.summary}")

    def as_dict(self) -> dict[str, Any]:
        return {"grade": self.grade, "score": round(self.score, 3),
                "failing": self.failing, "min_module_px": self.min_module_px,
                "width_modules": self.width_modules, "summary": self.summary,
                "warning": self.warning, "version": self.version}


def level(score: float) -> str:
    for name, threshold in THRESHOLDS:
        if score >= threshold - 1e-9:
            return name
    return "E"


def _decodes(picture: np.ndarray, payload: str) -> bool:
    results = zxingcpp.read_barcodes(picture, formats=zxingcpp.BarcodeFormat.QRCode,
                                     try_invert=False, text_mode=zxingcpp.TextMode.Plain)
    return any(result.text == payload for result in results)


def scene(payload: str, design: dict[str, Any], logo: Image.Image | None = None) -> Scene:
    design = render.normalise_design(design)
    lay = render.layout(payload, design, logo)
    size = round(lay.width * SOURCE_PX)
    px = size / lay.width
    image = render.render_image(lay, size).convert("L")
    origin = round(lay.code_origin * px)
    end = round((lay.code_origin + lay.n) * px)
    grey = Image.new("RGB", (2, 1))
    grey.putpixel((0, 0), render._rgb(design["background"]))
    grey.putpixel((1, 0), render._rgb(design["foreground"]))
    grey = grey.convert("L")
    paper, ink = grey.getpixel((0, 0)), grey.getpixel((1, 0))
    return Scene(image, px, (origin, origin, end, end), paper, ink, lay.width)


def _advice(condition: Condition, design: dict[str, Any], contrast: float) -> str:
    """Why this design fails the condition, and the change most likely to fix it."""
    logo_share = design["logo_size"] if design["logo"] else 0.0
    if condition.kind == "surroundings" and design["quiet_zone"] < 4 and design["frame"] != "box":
        return (f"the quiet zone is {design['quiet_zone']} module(s) wide; widen it to 4 or add "
                "a frame")
    if condition.kind == "light" and contrast < 7:
        return (f"the contrast is {contrast:.1f}:1; darken the foreground or lighten the "
                "background (7:1 or more)")
    if logo_share > 0.18 and condition.kind in ("geometry", "focus", "cover", "light"):
        return (f"the logo covers too much ({logo_share:.0%} of the width); reduce it to 18 %")
    if design["module_style"] == "dots":
        return "dots leave gaps between modules; use square or rounded modules"
    if condition.kind == "distance":
        return "print it larger, or shorten the content (fewer, larger modules)"
    if design["error_correction"] in ("L", "M", "Q"):
        return "raise the error correction (H recovers 30 % of the code)"
    if design["eye_style"] == "circle":
        return "use square or rounded eyes"
    if logo_share:
        return f"reduce the logo ({logo_share:.0%} of the width)"
    return "print it larger, with a matte finish"


def grade(payload: str, design: dict[str, Any], logo: Image.Image | None = None) -> Grade:
    """The design's grade for this payload (the payload sets the module count)."""
    from qrp_qr import verify

    started = time.perf_counter()
    design = render.normalise_design(design)
    drawn = scene(payload, design, logo)
    passed = 0.0
    failing = []
    contrast = verify.contrast_ratio(design["foreground"], design["background"])
    for condition in CONDITIONS:
        if _decodes(condition.shoot(drawn), payload):
            passed += condition.weight
        else:
            failing.append({"condition": condition.key, "label": condition.label,
                            "advice": _advice(condition, design, contrast)})
    smallest = None
    for camera_px in MODULE_PX_LADDER:
        if not _decodes(_far(camera_px)(drawn), payload):
            break
        smallest = camera_px
    score = passed / TOTAL_WEIGHT
    return Grade(level(score), score, failing, smallest, drawn.width_modules,
                 (time.perf_counter() - started) * 1000)
