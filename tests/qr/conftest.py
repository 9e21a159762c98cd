"""Helpers for the qr plugin's tests."""

import io

import pytest
import zxingcpp
from PIL import Image


def decode_image(image: Image.Image) -> list[str]:
    """Read QR codes with zxing-cpp, the way a scanner app would (no inverted codes)."""
    return [r.text for r in zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormat.QRCode, try_invert=False,
        text_mode=zxingcpp.TextMode.Plain)]


def rasterize(data: bytes, fmt: str) -> Image.Image:
    """PNG as is; SVG and PDF through MuPDF, a real renderer that is not ours."""
    if fmt == "png":
        return Image.open(io.BytesIO(data)).convert("RGB")
    import pymupdf

    document = pymupdf.open(stream=data, filetype=fmt)
    pixmap = document[0].get_pixmap(dpi=144 if fmt == "pdf" else 96, alpha=False)
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def drop_buffered_scans(app) -> None:
    """Scan events a test left in an app's stream buffer would otherwise be delivered at exit,
    after their workspace was truncated away."""
    buffer = app.extensions["qrp.stream"]
    with buffer._lock:
        buffer._items.clear()


@pytest.fixture
def scans(app):
    """The scan events recorded so far (the stream buffer is not flushed in tests)."""
    drop_buffered_scans(app)
    buffer = app.extensions["qrp.stream"]

    def recorded():
        return [e for e in list(buffer._items) if e.type == "qr.scanned"]

    yield recorded
    drop_buffered_scans(app)


@pytest.fixture(autouse=True)
def _no_scans_left_behind(app):
    yield
    drop_buffered_scans(app)
