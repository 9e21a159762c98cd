"""Counting visitors without keeping anything that identifies them.

An IP address is never stored. It is hashed with a salt that changes every UTC day; yesterday's
salt is destroyed when the day ends, so no hash can be turned back into an address, nor linked
to the same visitor on another day (the approach Plausible Analytics describes).

- ``ip_hash(ip)`` = sha256(salt + ip)
- ``visitor_hash(ip, user_agent, *scope)`` = sha256(salt + ip + user agent + scope), e.g. scope =
  a QR code's id: one visitor counted once per code per day.

Every process must agree on the day's salt: with REDIS_URL it lives in Redis (created with
SET NX, expiring shortly after its day ends); without Redis (the embedded one-process setup) it
lives in this process. Each process keeps the current salt in memory and asks Redis once a day.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app

SALT_KEY = "qrp:privacy:salt:{day}"
# Kept a little past midnight so that a process with a slightly slow clock still agrees.
GRACE = timedelta(minutes=10)


class DailySalt:
    def __init__(self, redis_url: str | None = None):
        self.redis_url = redis_url
        self._redis = None
        self._day: str | None = None
        self._salt: bytes = b""
        self._day_starts = self._day_ends = 0.0  # the current salt's day, in epoch seconds
        self._lock = threading.Lock()

    def _client(self):
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(self.redis_url, socket_timeout=2,
                                         socket_connect_timeout=2)
        return self._redis

    def current(self, now: datetime | None = None) -> bytes:
        if now is None:
            if self._day_starts <= time.time() < self._day_ends:  # every scan asks: no dates
                return self._salt
            now = datetime.now(UTC)
        day = now.strftime("%Y-%m-%d")
        if day == self._day:
            return self._salt
        with self._lock:
            if day != self._day:
                self._salt = self._fetch(day, now)
                self._day = day
                starts = datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp()
                self._day_starts, self._day_ends = starts, starts + 86400
        return self._salt

    def _fetch(self, day: str, now: datetime) -> bytes:
        fresh = secrets.token_bytes(32)
        if not self.redis_url:
            return fresh  # the old salt is dropped with the reference: destroyed
        end_of_day = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        ttl = int((end_of_day + GRACE - now).total_seconds())
        key = SALT_KEY.format(day=day)
        client = self._client()
        client.set(key, fresh, nx=True, ex=max(ttl, 1))
        return client.get(key) or fresh


def init_app(app: Flask) -> DailySalt:
    salt = app.extensions.get("qrp.privacy.salt")
    if salt is None:
        salt = DailySalt(app.config.get("REDIS_URL"))
        app.extensions["qrp.privacy.salt"] = salt
    return salt


def daily_salt(app: Flask | None = None) -> bytes:
    app = app or current_app
    return init_app(app).current()


def ip_hash(ip: str, salt: bytes) -> str:
    return hashlib.sha256(salt + ip.encode()).hexdigest()


def visitor_hash(ip: str, user_agent: str | None, *scope: object, salt: bytes) -> str:
    material = salt + ip.encode() + (user_agent or "").encode() + "".join(
        str(part) for part in scope).encode()
    return hashlib.sha256(material).hexdigest()
