"""Drawing the vector formats as pixels: SVG through resvg, a PDF page through PDFium. A leaf
module: the sanitiser checks that a cleaned file draws, the thumbnailer draws it."""

from __future__ import annotations

import io
import threading

from PIL import Image

# PDFium is not thread-safe; the embedded job runner and the web process share threads.
_pdfium_lock = threading.Lock()


def svg(data: bytes, size: int, dimensions: tuple[int, int]) -> Image.Image:
    """Draw a sanitised SVG (of ``dimensions``) so that its longer side is ``size`` pixels."""
    import resvg_py

    width, height = dimensions
    side = {"width": size} if width >= height else {"height": size}
    # dpi 96, the CSS pixel: with resvg's default (0) a width="30mm" (or in, cm, pt, pc) is zero
    # wide and the SVG cannot be drawn at all.
    png = resvg_py.svg_to_bytes(svg_string=data.decode("utf-8"), dpi=96, **side)
    image = Image.open(io.BytesIO(bytes(png)), formats=["PNG"])
    image.load()
    return image


def pdf_page(data: bytes, size: int) -> Image.Image:
    """The first page of a PDF, its longer side ``size`` pixels."""
    import pypdfium2

    with _pdfium_lock:
        document = pypdfium2.PdfDocument(data)
        try:
            page = document[0]
            width, height = page.get_size()
            bitmap = page.render(scale=size / max(width, height, 1))
            image = bitmap.to_pil().convert("RGB")
            page.close()
            return image
        finally:
            document.close()
