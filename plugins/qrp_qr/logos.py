"""Where a design's logo comes from.

``design.logo`` is either the id of an asset in the workspace's media library (the assets
plugin, when enabled: the editor picks one or uploads into the library) or, as before the
library existed and whenever it is not enabled, the storage key of a one-off upload. qr uses
the library through ``qrp_assets.services`` only, and only when ``assets`` is enabled.
"""

from __future__ import annotations

import io
from typing import Any

from flask import current_app, g, has_app_context
from PIL import Image, UnidentifiedImageError

from qrplatform.errors import NotFound, ServiceError
from qrplatform.registry import registry
from qrplatform.storage import storage

USAGE = "qr.code"  # how the library lists a code among an asset's users
LOGO_PIXELS = 1024


class LogoMissing(ServiceError):
    status = 422
    code = "validation_error"

    def __init__(self, message: str):
        super().__init__(message, field="design.logo")


def asset_id(logo: Any) -> int | None:
    """The asset id a logo names (an int, or digits in a string), else None (a storage key)."""
    if isinstance(logo, bool):
        return None
    if isinstance(logo, int):
        return logo
    if isinstance(logo, str) and logo.isdigit():
        return int(logo)
    return None


def library_enabled() -> bool:
    return has_app_context() and registry().enabled("assets")


def _library():
    if not library_enabled():
        raise LogoMissing("This logo names a file of the media library, which is not enabled "
                          "here; upload the logo instead.")
    from qrp_assets import services

    return services


def image(design: dict[str, Any]) -> Image.Image | None:
    """The logo as an RGBA image (a GIF's first frame, an SVG drawn), or None."""
    logo = design.get("logo")
    if not logo:
        return None
    library_id = asset_id(logo)
    try:
        if library_id is not None:
            asset = _library().get_asset(library_id)
            if asset.kind == "pdf":
                raise LogoMissing("A PDF cannot be a logo; pick an image or SVG.")
            return _library().picture(library_id, LOGO_PIXELS)
        picture = Image.open(io.BytesIO(storage().get(logo)))
        picture.load()
        return picture.convert("RGBA")
    except NotFound as exc:
        raise LogoMissing("The logo is not in this workspace's library (deleted, or another "
                          "workspace's); pick another.") from exc
    except (KeyError, UnidentifiedImageError, OSError) as exc:
        raise LogoMissing("The logo cannot be found; upload it again.") from exc


def png(design: dict[str, Any]) -> bytes | None:
    """The logo as PNG bytes (for the bulk job's drawing processes), or None."""
    picture = image(design)
    if picture is None:
        return None
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def identity(design: dict[str, Any]) -> str | None:
    """What the drawn logo depends on, for content-addressed image keys: a library asset's
    current file (replacing it changes the key), or the storage key itself."""
    logo = design.get("logo")
    library_id = asset_id(logo)
    if library_id is None or not library_enabled():
        return logo or None
    seen = g.setdefault("qr_logo_identities", {})
    if library_id not in seen:
        try:
            seen[library_id] = _library().resolve(library_id).key
        except NotFound:
            seen[library_id] = None
    return seen[library_id]


def upload(data: bytes, filename: str) -> tuple[int, str]:
    """Put an uploaded logo into the media library; its id and URL."""
    asset = _library().upload(data, filename)
    return asset.id, _library().url(asset)


def codes_using(asset: int) -> list[int]:
    """The ids of the codes whose logo is this library asset."""
    if not library_enabled():
        return []
    return [int(usage.ref_id) for usage in _library().used_by(asset) if usage.consumer == USAGE]


def record_usage(codes, *, new: bool = False) -> None:
    """Tell the library which of its assets these codes use (in the caller's transaction).
    ``new`` codes without a library logo have nothing to tell."""
    if not library_enabled():
        return
    library = _library()
    paths = current_app.url_map.bind("localhost")  # in a request or a job alike
    usages = []
    for code in codes:
        library_id = asset_id((code.design or {}).get("logo"))
        if library_id is None and new:
            continue
        usages.append(library.Usage(code.id, (library_id,) if library_id else (),
                                    label=f"QR code “{code.name}”",
                                    href=paths.build("qr.detail", {"code_id": code.id})))
    if usages:
        library.set_usages(USAGE, usages)
