"""`flask qr …`: maintenance commands of the qr plugin."""

from __future__ import annotations

import hashlib
import json

import click
from sqlalchemy import select

from qrp_qr import render, services
from qrp_qr.models import QRCode
from qrplatform.extensions import db
from qrplatform.storage import storage
from qrplatform.tenancy import unscoped

qr_cli = click.Group("qr", help="QR code maintenance.")


def _legacy_image_key(text: str, design: dict, fmt: str, size: int) -> str:
    """The key images had before keys were keyed hashes: anyone could compute it."""
    material = json.dumps([render.RENDER_VERSION, text, design, fmt, size], sort_keys=True,
                          separators=(",", ":"))
    digest = hashlib.sha256(material.encode()).hexdigest()
    return f"c/qr/{digest[:2]}/{digest}.{fmt}"


@qr_cli.command("rekey-images")
def rekey_images() -> None:
    """Draw every code's images under their keyed-hash keys and delete the images stored under
    the old plain-hash keys (which let anyone confirm a guessed code content)."""
    backend = storage()
    codes = deleted = 0
    with unscoped():
        for code in db.session.scalars(select(QRCode).execution_options(yield_per=200)):
            services.ensure_default_images(code)
            text = services.payload(code)
            for fmt in render.FORMATS:
                legacy = _legacy_image_key(text, code.design, fmt, render.DEFAULT_SIZE)
                if backend.exists(legacy):
                    backend.delete(legacy)
                    deleted += 1
            codes += 1
    click.echo(f"{codes} code(s) drawn under keyed keys; {deleted} old image(s) deleted")
