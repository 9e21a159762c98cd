"""QR Platform: the core. ``create_app()`` builds the Flask app and wires the enabled plugins."""

from qrplatform.app import PROJECT_ROOT, create_app

__all__ = ["PROJECT_ROOT", "create_app"]
