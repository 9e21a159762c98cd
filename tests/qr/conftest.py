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


@pytest.fixture(autouse=True)
def fresh_scan_counts(app):
    """The session's app counts capped scans in-process, and every test's codes start again
    at id 1: no test sees another's counts."""
    from qrp_qr import linkcache

    linkcache.counter_for(app).forget_all_in_process()


@pytest.fixture
def scans(app, db):
    """The scan events recorded so far (the stream buffer is not flushed in tests; the db
    fixture discards what is left after each test)."""
    buffer = app.extensions["qrp.stream"]
    buffer.discard()

    def recorded():
        return [e for e in buffer.pending() if e.type == "qr.scanned"]

    return recorded
