"""The short-link cache in front of the database, shared by the redirect (which reads it) and
the services (which make every process forget a code that changed). A leaf: it imports nothing
of the plugin; ``init_app`` hands it the function that reads an entry from the database."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

CACHE_EXTENSION = "qr.link_cache"
COUNTER_EXTENSION = "qr.scan_counter"
LINK_KEY = "qrp:qr:link:{}"
GENERATION_KEY = "qrp:qr:gen:{}"
SCANS_KEY = "qrp:qr:scans:{}"
INVALIDATE_CHANNEL = "qrp:qr:invalidate"
REDIS_TTL = 24 * 3600        # seconds a link stays in Redis
LOCAL_TTL = 300.0            # seconds a link stays in a process (a safety net; pub/sub evicts)
MISSING_TTL = 10.0           # an unknown code is remembered briefly (scanners retry)
LOCAL_SIZE = 50_000

# Only set the entry if nobody invalidated the code since we read its generation.
_SET_IF_GENERATION = """
if (redis.call('GET', KEYS[2]) or '0') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
"""


class LinkCache:
    """short code → redirect entry (from ``load``: ``services.redirect_entry``), three
    levels deep.

    Correctness when a code changes: ``invalidate`` (called after the commit) bumps the code's
    generation in Redis, deletes the Redis entry and publishes the short code; every process
    listens and drops it from memory. A fill that raced with an invalidation is not kept: the
    Redis write is conditional on the generation, the in-process one on a local epoch that
    every invalidation bumps. While a process is not (yet) subscribed it does not cache in
    memory at all, so a missed message cannot leave it stale.
    """

    def __init__(self, app: Flask, load: Callable[[str], dict[str, Any] | None]):
        self.app = app
        self.load = load
        self.redis_url = app.config.get("REDIS_URL")
        self._local: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._epoch = 0
        self._redis = None
        self._listener: threading.Thread | None = None
        self._listener_pid: int | None = None
        self._subscribed = threading.Event()
        self._set_if_generation = None
        if not self.redis_url:
            self._subscribed.set()  # one process, invalidated directly

    # -- plumbing --
    def redis(self):
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(self.redis_url, socket_timeout=2,
                                         socket_connect_timeout=2, health_check_interval=30)
            self._set_if_generation = self._redis.register_script(_SET_IF_GENERATION)
        return self._redis

    def _ensure_listener(self) -> None:
        if not self.redis_url:
            return
        pid = os.getpid()
        if self._listener is not None and self._listener_pid == pid and self._listener.is_alive():
            return
        with self._lock:
            if self._listener is None or self._listener_pid != pid or not self._listener.is_alive():
                # After a fork (gunicorn workers), start afresh: nothing inherited is trusted.
                self._subscribed.clear()
                self._redis = None
                self._local.clear()
                self._listener_pid = pid
                self._listener = threading.Thread(target=self._listen, daemon=True,
                                                  name="qrp-qr-link-invalidation")
                self._listener.start()

    def _listen(self) -> None:
        from redis import Redis

        while True:
            try:
                client = Redis.from_url(self.redis_url, socket_connect_timeout=2,
                                        health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(INVALIDATE_CHANNEL)
                for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        # Whatever happened while we were not listening is unknown: start clean.
                        self._drop_all()
                        self._subscribed.set()
                    elif message["type"] == "message":
                        self._drop(message["data"].decode())
            except Exception as exc:  # the connection dropped: stop caching, reconnect
                self._subscribed.clear()
                self._drop_all()
                log.warning("link cache invalidation listener lost Redis (%s); retrying", exc)
                time.sleep(1)

    def _drop(self, short_code: str) -> None:
        with self._lock:
            self._epoch += 1
            self._local.pop(short_code, None)

    def _drop_all(self) -> None:
        with self._lock:
            self._epoch += 1
            self._local.clear()

    # -- the API --
    def get(self, short_code: str) -> dict[str, Any] | None:
        self._ensure_listener()
        hit = self._local.get(short_code)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        epoch = self._epoch
        entry, ttl = self._fetch(short_code)
        if self._subscribed.is_set():
            with self._lock:
                if self._epoch == epoch:
                    self._local[short_code] = (now + ttl, entry)
                    self._local.move_to_end(short_code)
                    while len(self._local) > LOCAL_SIZE:
                        self._local.popitem(last=False)
        return entry

    def _fetch(self, short_code: str) -> tuple[dict[str, Any] | None, float]:
        if self.redis_url:
            try:
                client = self.redis()
                raw, generation = client.mget(LINK_KEY.format(short_code),
                                              GENERATION_KEY.format(short_code))
                if raw is not None:
                    entry = json.loads(raw)
                    return entry, LOCAL_TTL if entry else MISSING_TTL
            except Exception as exc:
                log.warning("redirect cache: Redis unavailable (%s); reading the database", exc)
                return self._from_database(short_code), 0.0
            entry = self._from_database(short_code)
            if entry is not None:
                try:
                    self._set_if_generation(
                        keys=[LINK_KEY.format(short_code), GENERATION_KEY.format(short_code)],
                        args=[json.dumps(entry), (generation or b"0").decode(), REDIS_TTL])
                except Exception as exc:
                    log.warning("redirect cache: could not fill Redis (%s)", exc)
            return entry, LOCAL_TTL if entry else MISSING_TTL
        entry = self._from_database(short_code)
        return entry, LOCAL_TTL if entry else MISSING_TTL

    def _from_database(self, short_code: str) -> dict[str, Any] | None:
        from qrplatform.extensions import db

        with self.app.app_context():
            try:
                return self.load(short_code)
            finally:
                db.session.remove()

    def invalidate(self, short_code: str) -> None:
        """Forget a code everywhere; call after the change committed."""
        self._drop(short_code)
        if self.redis_url:
            try:
                pipe = self.redis().pipeline()
                pipe.incr(GENERATION_KEY.format(short_code))
                pipe.expire(GENERATION_KEY.format(short_code), REDIS_TTL * 2)
                pipe.delete(LINK_KEY.format(short_code))
                pipe.publish(INVALIDATE_CHANNEL, short_code)
                pipe.execute()
            except Exception:
                log.exception("could not invalidate short code %s in Redis", short_code)
                raise

    def wait_until_listening(self, timeout: float = 5.0) -> bool:
        self._ensure_listener()
        return self._subscribed.wait(timeout)


class ScanCounter:
    """Scans so far of a capped code: Redis INCR (all processes agree), else in-process."""

    def __init__(self, cache: LinkCache):
        self.cache = cache
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()

    def increment(self, code_id: int) -> int:
        if self.cache.redis_url:
            return int(self.cache.redis().incr(SCANS_KEY.format(code_id)))
        with self._lock:
            self._counts[code_id] = self._counts.get(code_id, 0) + 1
            return self._counts[code_id]

    def current(self, code_id: int) -> int:
        if self.cache.redis_url:
            return int(self.cache.redis().get(SCANS_KEY.format(code_id)) or 0)
        return self._counts.get(code_id, 0)


def cache_for(app: Flask) -> LinkCache:
    return app.extensions[CACHE_EXTENSION]


def counter_for(app: Flask) -> ScanCounter:
    return app.extensions[COUNTER_EXTENSION]


def init_app(app: Flask, load: Callable[[str], dict[str, Any] | None]) -> LinkCache:
    cache = LinkCache(app, load)
    app.extensions[CACHE_EXTENSION] = cache
    app.extensions[COUNTER_EXTENSION] = ScanCounter(cache)
    return cache
