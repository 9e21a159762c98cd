"""Thumbnails of a stored (already sanitised) file: WebP, several widths, the first frame of an
animation, the first page of a PDF.

Memory matters more than anything here (a worker may meet a 50-megapixel photo): a JPEG is
decoded at the smallest scale that still covers the largest thumbnail (libjpeg's DCT scaling,
``Image.draft``), and each smaller thumbnail is made from the one before it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

from PIL import Image

from qrp_assets import drawing
from qrp_assets.sanitize import PILLOW_FORMATS, svg_size

THUMBNAIL_QUALITY = 80


def first_frame(data: bytes, fmt: str, size: int | None = None) -> Image.Image:
    """The picture of a file as RGBA: the first frame of an animation, the first page of a
    PDF, an SVG drawn at ``size`` pixels (default 1024)."""
    if fmt == "svg":
        return drawing.svg(data, size or 1024, svg_size(data)).convert("RGBA")
    if fmt == "pdf":
        return drawing.pdf_page(data, size or 1024).convert("RGB")
    image = Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[fmt]])
    if size and fmt == "jpeg":
        image.draft("RGB", (size, size))
    image.seek(0)
    image.load()
    image.fp = None  # drop the reference to the file's bytes: the pixels are decoded
    mode = "RGBA" if image.mode in ("RGBA", "LA", "P", "PA") else "RGB"
    # convert() copies even to the same mode: at 50 megapixels that copy is 150 MB.
    return image if image.mode == mode else image.convert(mode)


def make(data: bytes, fmt: str, sizes: Sequence[int]) -> Iterator[tuple[int, bytes]]:
    """(size, WebP bytes) for each size that is not larger than the picture itself (and at
    least the smallest one), largest first."""
    wanted = sorted(set(sizes), reverse=True)
    image = first_frame(data, fmt, wanted[0])
    del data  # with the caller passing its bytes straight in, nothing keeps the file now
    longest = max(image.size)
    fitting = [s for s in wanted if s <= longest] or [wanted[-1]]
    for size in fitting:
        if max(image.size) > size:
            image.thumbnail((size, size), Image.LANCZOS, reducing_gap=3.0)
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", quality=THUMBNAIL_QUALITY, method=4)
        yield size, buffer.getvalue()
