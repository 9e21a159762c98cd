"""Thumbnails of a stored (already sanitised) file: WebP, several widths, the first frame of an
animation, the first page of a PDF.

Memory matters more than anything here (a worker may meet a 50-megapixel photo or PNG): a raster
file is read from disk by libvips, which decodes it already scaled down to the largest size
wanted (a JPEG at a smaller DCT scale, a PNG, WebP or GIF line by line through a shrinking
filter), so the whole picture never sits in memory; each smaller thumbnail is then made from the
one before it. libvips is loaded by the first thumbnail, in the job's work horse: a process
that used it must not fork a child that uses it again (its threads would not come along).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image

from qrp_assets import drawing
from qrp_assets.sanitize import svg_size

THUMBNAIL_QUALITY = 80


def first_frame(path: Path, fmt: str, size: int = 1024) -> Image.Image:
    """The picture of a file, its longer side at most ``size`` pixels (an SVG or a PDF page is
    drawn at exactly that): RGBA or RGB, the first frame of an animation, the first page of a
    PDF."""
    if fmt == "svg":
        data = path.read_bytes()
        return drawing.svg(data, size, svg_size(data)).convert("RGBA")
    if fmt == "pdf":
        return drawing.pdf_page(path.read_bytes(), size).convert("RGB")
    return _shrunk_on_load(path, size)


def _shrunk_on_load(path: Path, size: int) -> Image.Image:
    import pyvips

    # "down": a picture smaller than ``size`` keeps its size; only the first frame or page.
    picture = pyvips.Image.thumbnail(str(path), size, height=size, size="down")
    picture = picture.colourspace("srgb")  # grey, CMYK and 16-bit pictures as 8-bit sRGB
    if picture.bands > 4:
        picture = picture.extract_band(0, n=4)
    mode = "RGBA" if picture.hasalpha() else "RGB"
    return Image.frombytes(mode, (picture.width, picture.height),
                           picture.cast("uchar").write_to_memory())


def make(path: Path, fmt: str, sizes: Sequence[int]) -> Iterator[tuple[int, bytes]]:
    """(size, WebP bytes) for each size that is not larger than the picture itself (and at
    least the smallest one), largest first."""
    wanted = sorted(set(sizes), reverse=True)
    image = first_frame(path, fmt, wanted[0])
    longest = max(image.size)
    fitting = [s for s in wanted if s <= longest] or [wanted[-1]]
    for size in fitting:
        if max(image.size) > size:
            image.thumbnail((size, size), Image.LANCZOS, reducing_gap=3.0)
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", quality=THUMBNAIL_QUALITY, method=4)
        yield size, buffer.getvalue()
