"""Jobs that run by themselves: each ``Schedule`` a plugin declares is enqueued every
``every_seconds`` as a system job (no workspace), through the same runner as any job, so it
shows progress, retries and failures like the rest.

Who decides that one is due: with REDIS_URL, a Redis key per schedule set with NX and an expiry
of the interval, so that any number of scheduler processes (``flask jobs scheduler``) enqueue it
once per interval between them; without Redis (``make run``), a thread inside the app keeps the
times in memory.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from qrplatform.plugins import Schedule
from qrplatform.registry import CORE, registry

log = logging.getLogger(__name__)

CLAIM_KEY = "qrp:schedule:{name}"
# How often the scheduler looks for due schedules; the shortest interval can be no shorter.
TICK_SECONDS = 10


def register(app: Flask, schedule: Schedule, owner: str = CORE) -> None:
    """Schedule a job; one not registered yet (in ``Plugin.jobs``) is registered for
    ``owner``, as ``<plugin>.<function>``."""
    from qrplatform import jobs

    if schedule.job in registry(app).job_names:
        name = registry(app).job_names[schedule.job]
    else:
        name = jobs.register(app, schedule.job, owner=owner,
                             name=None if owner == CORE else f"{owner}.{schedule.job.__name__}")
    if schedule.every_seconds < TICK_SECONDS:
        raise ValueError(f"schedule of {name} runs more often than the scheduler looks "
                         f"({TICK_SECONDS} s)")
    registry(app).schedules[name] = schedule


def registered(app: Flask) -> dict[str, Schedule]:
    return registry(app).schedules


class RedisClaims:
    """One claim per schedule and interval, shared by every scheduler process."""

    def __init__(self, redis_url: str):
        from redis import Redis

        self.redis = Redis.from_url(redis_url)

    def claim(self, name: str, every_seconds: int) -> bool:
        return bool(self.redis.set(CLAIM_KEY.format(name=name), int(time.time()), nx=True,
                                   ex=every_seconds))


class MemoryClaims:
    """The embedded setup's claims: this process only."""

    def __init__(self):
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, name: str, every_seconds: int) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._next.get(name, 0.0) > now:
                return False
            self._next[name] = now + every_seconds
            return True


def claims_for(app: Flask):
    claims = app.extensions.get("qrp.schedule_claims")
    if claims is None:
        claims = RedisClaims(app.config["REDIS_URL"]) if app.config.get("REDIS_URL") \
            else MemoryClaims()
        app.extensions["qrp.schedule_claims"] = claims
    return claims


def enqueue_due(app: Flask) -> list[str]:
    """Enqueue every schedule whose interval has come round. Returns the job names."""
    from qrplatform import jobs
    from qrplatform.extensions import db
    from qrplatform.tenancy import unscoped

    claims = claims_for(app)
    enqueued = []
    for name, schedule in registered(app).items():
        if not claims.claim(name, schedule.every_seconds):
            continue
        with app.app_context(), unscoped():
            jobs.enqueue(name, queue=schedule.queue,
                         description=f"scheduled: {jobs.short_name(name).replace('_', ' ')}")
            db.session.commit()
        enqueued.append(name)
    return enqueued


def run_forever(app: Flask, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            for name in enqueue_due(app):
                log.info("scheduled job %s enqueued", name)
        except Exception:  # Redis or the database away for a moment: try again next tick
            log.exception("scheduler pass failed")
        stop.wait(TICK_SECONDS)


def start_embedded_scheduler(app: Flask) -> None:
    """For the embedded setup: the app's own scheduler thread, started with its first request
    (never in tests, never with Redis, where `flask jobs scheduler` does it)."""
    if app.config.get("REDIS_URL") or app.testing or not registered(app):
        return
    started = threading.Event()

    @app.before_request
    def _start_once():
        if not started.is_set():
            started.set()
            threading.Thread(target=run_forever, args=(app,), name="qrp-scheduler",
                             daemon=True).start()
