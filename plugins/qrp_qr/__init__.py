"""The `qr` plugin: QR codes, their designs and images, the scan redirect, bulk generation."""
