"""The short-link cache in front of the database, shared by the redirect (which reads it) and
the services (which make every process forget a code that changed). A leaf: it imports nothing
of the plugin; ``init_app`` hands it the function that reads an entry from the database.

short code → redirect entry: in-process in front of Redis (``qrp:qr:link:<code>``) in front of
the database, every process dropping a changed code at once (pub/sub on ``qrp:qr:invalidate``);
the machinery is the core's ``TieredCache``. An unknown code is remembered briefly (scanners
retry).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

from qrplatform.cache import TieredCache

CACHE_EXTENSION = "qr.link_cache"
COUNTER_EXTENSION = "qr.scan_counter"
SCANS_KEY = "qrp:qr:scans:{}"


class ScanCounter:
    """Scans so far of a capped code: Redis INCR (all processes agree), else in-process."""

    def __init__(self, cache: TieredCache):
        self.cache = cache
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()

    def increment(self, code_id: int) -> int:
        if self.cache.redis_url:
            return int(self.cache.redis().incr(SCANS_KEY.format(code_id)))
        with self._lock:
            self._counts[code_id] = self._counts.get(code_id, 0) + 1
            return self._counts[code_id]

    def forget(self, code_id: int) -> None:
        """Start a code's count again (tests; a tool that resets a campaign)."""
        if self.cache.redis_url:
            self.cache.redis().delete(SCANS_KEY.format(code_id))
        with self._lock:
            self._counts.pop(code_id, None)

    def forget_all_in_process(self) -> None:
        """Drop every in-process count (tests: a new test's codes reuse the ids)."""
        with self._lock:
            self._counts.clear()

    def current(self, code_id: int) -> int:
        if self.cache.redis_url:
            return int(self.cache.redis().get(SCANS_KEY.format(code_id)) or 0)
        return self._counts.get(code_id, 0)


def cache_for(app: Flask) -> TieredCache:
    return app.extensions[CACHE_EXTENSION]


def counter_for(app: Flask) -> ScanCounter:
    return app.extensions[COUNTER_EXTENSION]


def init_app(app: Flask, load: Callable[[str], dict[str, Any] | None]) -> TieredCache:
    cache = TieredCache(app, namespace="qrp:qr", item="link", load=load)
    app.extensions[CACHE_EXTENSION] = cache
    app.extensions[COUNTER_EXTENSION] = ScanCounter(cache)
    return cache
