"""The published pages' caches (``qrplatform.cache.TieredCache``: in-process, Redis, then the
database): slug -> the page's entry, custom domain -> the slug shown at its root."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from qrplatform.cache import TieredCache

PAGES = "microsites.pages"
DOMAINS = "microsites.domains"


def init_app(app: Flask, load_page: Callable[[str], dict[str, Any] | None],
             load_domain: Callable[[str], str | None]) -> None:
    app.extensions[PAGES] = TieredCache(app, namespace="qrp:microsites", item="page",
                                        load=load_page,
                                        local_size=app.config["MICROSITES_CACHED_PAGES"])
    app.extensions[DOMAINS] = TieredCache(app, namespace="qrp:microsites", item="domain",
                                          load=load_domain)


def pages(app: Flask) -> TieredCache:
    return app.extensions[PAGES]


def domains(app: Flask) -> TieredCache:
    return app.extensions[DOMAINS]
