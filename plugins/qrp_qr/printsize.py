"""How large to print a code, or how far away it still scans.

A phone resolves a module when it covers enough camera pixels. The grade measures that number
for the design (``Grade.min_module_px``: the fewest camera pixels per module that still
decode); here it becomes millimetres with a model of a typical phone camera:

- the scanner analyses a frame ``CAMERA_FRAME_PX`` pixels wide, with a horizontal field of
  view of ``CAMERA_FOV_DEGREES`` (a main camera with a 26 mm-equivalent lens);
- at a distance d the frame covers 2·d·tan(fov/2) of the print, so one millimetre of print is
  CAMERA_FRAME_PX / (2·d·tan(fov/2)) camera pixels;
- a ``SAFETY`` margin covers what the grade's pictures do not (hand shake, autofocus hunting,
  a worn print).

Given a distance (or a preset range: the far end decides), the smallest safe print width is the
design's width in modules (quiet zone and frame included) times the module size that gives
``min_module_px * SAFETY`` camera pixels; given a print width, the farthest distance is the
inverse. Never smaller than ``MIN_PRINT_MM``: below it printers and phones' closest focus
(about 10 cm) get in the way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CAMERA_FRAME_PX = 1280
CAMERA_FOV_DEGREES = 65.0
SAFETY = 1.5
MIN_PRINT_MM = 20.0
VIEW_FILL = 0.7      # the code should fill at most this share of the view at the near end
MM_PER_INCH = 25.4

# name: (label, nearest, farthest) in millimetres
PRESETS: dict[str, tuple[str, float, float]] = {
    "hand": ("holding it in hand (15-30 cm)", 150.0, 300.0),
    "poster": ("a poster (1-2 m away)", 1000.0, 2000.0),
    "billboard": ("a billboard (5-10 m away)", 5000.0, 10000.0),
}
MIN_DISTANCE_MM, MAX_DISTANCE_MM = 50.0, 100_000.0
MIN_WIDTH_MM, MAX_WIDTH_MM = 5.0, 20_000.0


def camera_px_per_mm(distance_mm: float) -> float:
    view = 2 * distance_mm * math.tan(math.radians(CAMERA_FOV_DEGREES) / 2)
    return CAMERA_FRAME_PX / view


def view_width_mm(distance_mm: float) -> float:
    return 2 * distance_mm * math.tan(math.radians(CAMERA_FOV_DEGREES) / 2)


@dataclass(frozen=True)
class Guidance:
    width_modules: float        # the design's width, quiet zone and frame included
    min_module_px: float        # from the grade

    def module_mm(self, distance_mm: float) -> float:
        return self.min_module_px * SAFETY / camera_px_per_mm(distance_mm)

    def smallest_width_mm(self, distance_mm: float) -> float:
        return max(MIN_PRINT_MM, self.module_mm(distance_mm) * self.width_modules)

    def farthest_mm(self, width_mm: float) -> float:
        module = width_mm / self.width_modules
        return module * camera_px_per_mm(1.0) / (self.min_module_px * SAFETY)

    def preset(self, name: str) -> dict[str, Any]:
        label, near, far = PRESETS[name]
        smallest = self.smallest_width_mm(far)
        largest = VIEW_FILL * view_width_mm(near)
        return {"preset": name, "label": label, "nearest_mm": near, "farthest_mm": far,
                "smallest_width_mm": round(smallest, 1),
                "largest_width_mm": round(max(largest, smallest), 1),
                "advice": f"print at least {_length(smallest)} wide for {label}"}

    def for_distance(self, distance_mm: float) -> dict[str, Any]:
        smallest = self.smallest_width_mm(distance_mm)
        return {"distance_mm": round(distance_mm, 1), "smallest_width_mm": round(smallest, 1),
                "advice": f"print at least {_length(smallest)} wide for scanning from "
                          f"{_length(distance_mm)}"}

    def for_width(self, width_mm: float) -> dict[str, Any]:
        farthest = self.farthest_mm(width_mm)
        return {"width_mm": round(width_mm, 1), "farthest_mm": round(farthest, 1),
                "advice": f"printed {_length(width_mm)} wide, it scans from up to "
                          f"{_length(farthest)}"}


def _length(mm: float) -> str:
    if mm >= 1000:
        return f"{mm / 1000:.1f} m".replace(".0 m", " m")
    if mm >= 100:
        return f"{mm / 10:.0f} cm"
    return f"{mm / 10:.1f} cm"


def guidance(grade: dict[str, Any]) -> Guidance | None:
    """From a grade (``Grade.as_dict()``); None when nothing decodes (no size would do)."""
    if not grade.get("min_module_px") or not grade.get("width_modules"):
        return None
    return Guidance(float(grade["width_modules"]), float(grade["min_module_px"]))


def summary(grade: dict[str, Any]) -> dict[str, Any] | None:
    """Every preset's smallest size, for the code's resource and the editor."""
    guide = guidance(grade)
    if guide is None:
        return None
    return {"presets": [guide.preset(name) for name in PRESETS],
            "camera": {"frame_px": CAMERA_FRAME_PX, "fov_degrees": CAMERA_FOV_DEGREES,
                       "safety": SAFETY}}


def to_mm(value: float, unit: str) -> float:
    return value * MM_PER_INCH if unit == "in" else value
