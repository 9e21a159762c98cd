"""What the qr plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from pathlib import Path

from qrplatform.plugins import Plugin
from qrp_qr import models

plugin = Plugin(
    name="qr",
    title="QR codes",
    models=[models.QRCode, models.QRTag, models.QRDesignTemplate],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
)
