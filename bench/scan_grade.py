"""The robustness grade's cost per design, on one core (issue 19: <= 150 ms for a styled
33 x 33 code, fast enough for the live editor).

    .venv/bin/python bench/scan_grade.py               # medians of 60 per design
    BENCH_GRADE_RUNS=200 .venv/bin/python bench/scan_grade.py

The process is pinned to one CPU (sched_setaffinity) and numpy's thread pools to one thread.
Each run grades a fresh payload of the same length (a short link as the app makes them), so
nothing comes from the module-grid cache: the full cost of drawing the design, photographing
it under every condition and decoding each picture with zxing-cpp. The styled design is the
issue's: rounded modules and eyes, a frame with its label, a logo (error correction H), which
makes a 33 x 33 code of a short link.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from PIL import Image, ImageDraw  # noqa: E402

from qrp_qr import grading, render  # noqa: E402

TARGET_MS = 150.0


def logo() -> Image.Image:
    image = Image.new("RGBA", (256, 256), (220, 60, 20, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 216, 216), fill=(255, 255, 255, 255))
    draw.text((100, 120), "LOGO", fill=(0, 0, 0, 255))
    return image


DESIGNS = {
    "plain (square, M)": ({}, None),
    "rounded modules and eyes": ({"module_style": "rounded", "eye_style": "rounded"}, None),
    "dots, circle eyes": ({"module_style": "dots", "eye_style": "circle"}, None),
    "styled: rounded, frame, logo (H)": (
        {"module_style": "rounded", "eye_style": "rounded", "frame": "box",
         "logo": "c/x/logo.png", "foreground": "#1a237e"}, logo()),
    "big logo (30 %)": ({"logo": "c/x/logo.png", "logo_size": 0.30}, logo()),
}


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    runs = int(os.environ.get("BENCH_GRADE_RUNS", "60"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Scan grade, one core, median of {runs} (fresh payload each run); "
          f"{len(grading.CONDITIONS)} conditions + {len(grading.MODULE_PX_LADDER)} module "
          f"sizes; load average {load:.2f}")
    worst = 0.0
    for label, (design, image) in DESIGNS.items():
        samples = []
        grades = set()
        for i in range(runs):
            payload = f"https://qr.example/{i:08d}"
            started = time.perf_counter()
            grade = grading.grade(payload, design, image)
            samples.append((time.perf_counter() - started) * 1000)
            grades.add(grade.grade)
        n = render.layout(payload, design, image).n
        median = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        worst = max(worst, median)
        print(f"  {label:<36} {n}x{n}  {median:7.1f} ms  (p90 {p90:.1f})  "
              f"grades {''.join(sorted(grades))}")
    verdict = "OK" if worst <= TARGET_MS else "OVER TARGET"
    print(f"  slowest median {worst:.1f} ms [{verdict}] (target <= {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
