"""Thumbnails of every picture kind the library keeps: libvips decodes them scaled down, and
each comes out as an sRGB WebP no larger than asked, with transparency kept where there was
some."""

import io

import numpy as np
import pytest
from PIL import Image

from qrp_assets import thumbnails

SIZES = (512, 128)


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gradient(mode: str, size=(900, 600)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    grey = np.tile(x, (size[1], 1))
    image = Image.fromarray(grey, "L")
    converted = image.convert(mode)
    if mode in ("LA", "RGBA"):
        converted.putalpha(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))  # see-through
    return converted


@pytest.mark.parametrize(("name", "fmt", "data", "alpha"), [
    ("grey PNG", "png", saved(gradient("L"), "PNG"), False),
    ("grey with alpha PNG", "png", saved(gradient("LA"), "PNG"), True),
    ("16-bit PNG", "png", saved(gradient("L").convert("I;16"), "PNG"), False),
    ("palette PNG with transparency", "png",
     saved(gradient("RGB").convert("P"), "PNG", transparency=0), True),
    ("CMYK JPEG", "jpeg", saved(gradient("CMYK"), "JPEG"), False),
    ("animated GIF", "gif", saved(gradient("P"), "GIF", save_all=True,
                                  append_images=[gradient("P")], duration=100), False),
    ("lossless WebP with alpha", "webp", saved(gradient("RGBA"), "WEBP", lossless=True), True),
])
def test_every_picture_kind_becomes_webp_thumbnails(tmp_path, name, fmt, data, alpha):
    path = tmp_path / f"picture.{fmt}"
    path.write_bytes(data)

    made = dict(thumbnails.make(path, fmt, SIZES))

    assert sorted(made) == sorted(SIZES), name
    for size, webp in made.items():
        picture = Image.open(io.BytesIO(webp))
        assert picture.format == "WEBP" and max(picture.size) == size, name
        assert picture.size[0] > picture.size[1], "the aspect ratio is kept"
        assert (picture.mode == "RGBA") == alpha, name


def test_a_small_picture_is_not_enlarged(tmp_path):
    path = tmp_path / "icon.png"
    path.write_bytes(saved(gradient("RGB", (200, 100)), "PNG"))

    made = dict(thumbnails.make(path, "png", (1024, 512, 128)))

    assert sorted(made) == [128], "only the sizes the picture covers, at least the smallest"
    assert max(Image.open(io.BytesIO(made[128])).size) == 128
