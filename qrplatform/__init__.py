"""QR Platform: the core. ``create_app()`` builds the Flask app and wires the enabled plugins.

Both names are looked up when first used, not when the package is imported: a process that
needs one core module (a bulk job's drawing process needs the storage backend) does not
import the whole app with it."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qrplatform.app import PROJECT_ROOT, create_app

__all__ = ["PROJECT_ROOT", "create_app"]


def __getattr__(name: str):
    if name in __all__:
        from qrplatform import app

        return getattr(app, name)
    raise AttributeError(f"module 'qrplatform' has no attribute {name!r}")
