"""A read-through cache for the hot public paths (the scan redirect, the Host of a custom
domain): key → JSON value, three levels deep.

    cache = TieredCache(app, namespace="qrp:qr", item="link", load=services.redirect_entry)
    entry = cache.get(short_code)      # in-process, else Redis, else load(short_code)
    cache.invalidate(short_code)       # after the commit that changed it: every process forgets

- in-process (LRU, ``local_ttl`` as a safety net) in front of Redis (``redis_ttl``) in front of
  ``load(key)``, which runs in an app context with its own database session; ``None`` (unknown)
  is remembered for ``missing_ttl`` only, in-process;
- ``invalidate`` bumps the key's generation in Redis, deletes the Redis entry and publishes the
  key on ``<namespace>:invalidate``; every process listens and drops it from memory. A fill that
  raced with an invalidation is not kept: the Redis write is conditional on the generation,
  the in-process one on a local epoch that every invalidation bumps. While a process is not
  (yet) subscribed it does not cache in memory at all, so a missed message cannot leave it
  stale; after a fork (gunicorn workers) nothing inherited is trusted.

Redis keys: ``<namespace>:<item>:<key>`` (the value), ``<namespace>:gen:<key>`` (generation).
Without REDIS_URL there is one process, invalidated directly.
"""

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

# Only set the entry if nobody invalidated the key since we read its generation.
_SET_IF_GENERATION = """
if (redis.call('GET', KEYS[2]) or '0') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
"""


class TieredCache:
    def __init__(self, app: Flask, *, namespace: str, item: str,
                 load: Callable[[str], Any | None], redis_ttl: int = 24 * 3600,
                 local_ttl: float = 300.0, missing_ttl: float = 10.0,
                 local_size: int = 50_000):
        self.app = app
        self.redis_url = app.config.get("REDIS_URL")
        self.load = load
        self.value_key = f"{namespace}:{item}:{{}}"
        self.generation_key = f"{namespace}:gen:{{}}"
        self.channel = f"{namespace}:invalidate"
        self.redis_ttl = redis_ttl
        self.local_ttl = local_ttl
        self.missing_ttl = missing_ttl
        self.local_size = local_size
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
                                                  name=f"qrp-cache-{self.channel}")
                self._listener.start()

    def _listen(self) -> None:
        from redis import Redis

        while True:
            try:
                client = Redis.from_url(self.redis_url, socket_connect_timeout=2,
                                        health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(self.channel)
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
                log.warning("cache invalidation listener (%s) lost Redis (%s); retrying",
                            self.channel, exc)
                time.sleep(1)

    def _drop(self, key: str) -> None:
        with self._lock:
            self._epoch += 1
            self._local.pop(key, None)

    def _drop_all(self) -> None:
        with self._lock:
            self._epoch += 1
            self._local.clear()

    # -- the API --
    def get(self, key: str) -> Any | None:
        self._ensure_listener()
        hit = self._local.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        epoch = self._epoch
        value, ttl = self._fetch(key)
        if self._subscribed.is_set():
            with self._lock:
                if self._epoch == epoch:
                    self._local[key] = (now + ttl, value)
                    self._local.move_to_end(key)
                    while len(self._local) > self.local_size:
                        self._local.popitem(last=False)
        return value

    def _ttl(self, value: Any | None) -> float:
        return self.local_ttl if value is not None else self.missing_ttl

    def _fetch(self, key: str) -> tuple[Any | None, float]:
        if not self.redis_url:
            value = self._from_loader(key)
            return value, self._ttl(value)
        value_key, generation_key = self.value_key.format(key), self.generation_key.format(key)
        try:
            raw, generation = self.redis().mget(value_key, generation_key)
            if raw is not None:
                value = json.loads(raw)
                return value, self._ttl(value)
        except Exception as exc:
            log.warning("cache %s: Redis unavailable (%s); loading directly", self.channel, exc)
            return self._from_loader(key), 0.0
        value = self._from_loader(key)
        if value is not None:
            try:
                self._set_if_generation(keys=[value_key, generation_key],
                                        args=[json.dumps(value), (generation or b"0").decode(),
                                              self.redis_ttl])
            except Exception as exc:
                log.warning("cache %s: could not fill Redis (%s)", self.channel, exc)
        return value, self._ttl(value)

    def _from_loader(self, key: str) -> Any | None:
        from qrplatform.extensions import db

        with self.app.app_context():
            try:
                return self.load(key)
            finally:
                db.session.remove()

    def invalidate(self, key: str) -> None:
        """Forget a key everywhere; call after the change committed."""
        self._drop(key)
        if self.redis_url:
            generation_key = self.generation_key.format(key)
            try:
                pipe = self.redis().pipeline()
                pipe.incr(generation_key)
                pipe.expire(generation_key, self.redis_ttl * 2)
                pipe.delete(self.value_key.format(key))
                pipe.publish(self.channel, key)
                pipe.execute()
            except Exception:
                log.exception("could not invalidate %s in Redis (%s)", key, self.channel)
                raise

    def forget_local(self) -> None:
        """Drop what this process holds (Redis keeps its entries): for tests whose keys come
        back with other values after the database was emptied."""
        self._drop_all()

    def wait_until_listening(self, timeout: float = 5.0) -> bool:
        self._ensure_listener()
        return self._subscribed.wait(timeout)
