"""What the qr plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from qrplatform.plugins import Plugin

plugin = Plugin(name="qr", title="QR codes")
