"""Host → the custom domain's routing entry (workspace, root and 404 URLs), cached like short
links are: in-process in front of Redis in front of the database (the core's ``TieredCache``),
every process forgetting a changed domain at once by pub/sub. A leaf: ``init_app`` hands it
the function that reads an entry from the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from qrplatform.cache import TieredCache

EXTENSION = "domains.host_map"


def init_app(app: Flask, load: Callable[[str], dict[str, Any] | None]) -> TieredCache:
    cache = TieredCache(app, namespace="qrp:domains", item="host", load=load)
    app.extensions[EXTENSION] = cache
    return cache


def host_map(app: Flask | None = None) -> TieredCache:
    return (app or current_app).extensions[EXTENSION]


def forget(name: str) -> None:
    """Every process forgets the domain (after the commit that changed it)."""
    host_map().invalidate(name)
