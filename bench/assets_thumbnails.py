"""Thumbnails of the media library: speed on one core and the worker's peak memory.

    .venv/bin/python bench/assets_thumbnails.py
    BENCH_IMAGES=20 .venv/bin/python bench/assets_thumbnails.py

Prints:
- thumbnails per second for 12-megapixel JPEG photos (4000x3000), one CPU core (the process is
  pinned to it), making every size the job makes (128, 256, 512, 1024 px WebP) with
  ``qrp_assets.thumbnails.make`` — against a baseline measured in the same run: the plain way
  (decode the whole photo, then ``Image.thumbnail`` for each size);
- the peak memory (max RSS) of a fresh process making the thumbnails of a 50-megapixel JPEG
  (8660x5774) and a 50-megapixel PNG from a file, as the worker's job does with the file
  storage puts on disk (target: under 300 MB), and of
  cleaning the same JPEG on upload (``sanitize.make_safe``: decode, rotate, re-encode).

Each memory figure comes from its own process (VmHWM), so one does not inherit another's
peak.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

SIZES = (128, 256, 512, 1024)


def photo(width: int, height: int, fmt: str = "JPEG") -> bytes:
    """A photo-like image (smooth gradients plus sensor noise), so JPEG sizes are realistic."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [x / width * 200 + 30, y / height * 180 + 40,
                (x + y) / (width + height) * 150 + 60]
    pixels = np.stack(channels, axis=-1)
    pixels += rng.normal(0, 12, pixels.shape).astype(np.float32)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 6}))
    return buffer.getvalue()


def plain_thumbnails(path: Path) -> int:
    """The baseline: decode everything, then scale down for each size."""
    from PIL import Image

    image = Image.open(path)
    image.load()
    made = 0
    for size in sorted(SIZES, reverse=True):
        copy = image.copy()
        copy.thumbnail((size, size), Image.LANCZOS)
        copy.save(io.BytesIO(), "WEBP", quality=80, method=4)
        made += 1
    return made


def our_thumbnails(path: Path, fmt: str = "jpeg") -> int:
    """What the job does with the file storage put on disk (``Storage.local_copy``)."""
    from qrp_assets import thumbnails

    return sum(1 for _ in thumbnails.make(path, fmt, SIZES))


def per_second(func, path: Path, runs: int) -> float:
    func(path)  # warm up (imports, codecs)
    started = time.perf_counter()
    for _ in range(runs):
        func(path)
    return runs / (time.perf_counter() - started)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the
    parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# -- the child processes ------------------------------------------------------------------------

def child(task: str, path: str) -> None:
    from qrp_assets import sanitize, thumbnails  # noqa: F401  (imports count in the baseline)

    before = peak_rss_mb()
    if task == "thumbnails-jpeg":
        our_thumbnails(Path(path), "jpeg")
    elif task == "thumbnails-png":
        our_thumbnails(Path(path), "png")
    elif task == "sanitize-jpeg":
        limits = sanitize.Limits(max_bytes=1 << 30, max_pixels=50_100_000,
                                 max_svg_bytes=1 << 20, max_pdf_pages=1, max_frames=1)
        sanitize.make_safe(Path(path).read_bytes(), limits)
    print(f"{before:.0f} {peak_rss_mb():.0f}")


def measure(task: str, path: Path) -> tuple[float, float]:
    out = subprocess.run([sys.executable, __file__, "--child", task, str(path)], check=True,
                         capture_output=True, text=True)
    before, peak = map(float, out.stdout.split())
    return before, peak


def main() -> None:
    import tempfile

    runs = int(os.environ.get("BENCH_IMAGES", "10"))
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print("Media library thumbnails (one core, sizes " + ", ".join(map(str, SIZES)) + " px WebP)")
    with tempfile.TemporaryDirectory() as folder:
        twelve = Path(folder) / "12mp.jpg"
        twelve.write_bytes(photo(4000, 3000))
        print(f"  12 MP JPEG: {twelve.stat().st_size / 1e6:.1f} MB, {runs} runs each")
        plain = per_second(plain_thumbnails, twelve, runs)
        ours = per_second(our_thumbnails, twelve, runs)
        print(f"  baseline (full decode, then scale):       {plain:6.2f} photos/s")
        print(f"  thumbnails.make (libvips shrink-on-load): {ours:6.2f} photos/s  "
              f"({ours / plain:.1f}x)")
        big_jpeg, big_png = Path(folder) / "50mp.jpg", Path(folder) / "50mp.png"
        big_jpeg.write_bytes(photo(8660, 5774))
        big_png.write_bytes(photo(8660, 5774, "PNG"))
        print("Peak memory of a fresh process (max RSS; after imports → peak)")
        for task, path in (("thumbnails-jpeg", big_jpeg), ("thumbnails-png", big_png),
                           ("sanitize-jpeg", big_jpeg)):
            before, peak = measure(task, path)
            print(f"  {task:<16} 50 MP ({path.stat().st_size / 1e6:5.1f} MB file): "
                  f"{before:5.0f} MB → {peak:5.0f} MB (+{peak - before:.0f} MB)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        main()
