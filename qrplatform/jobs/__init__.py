"""Background jobs with progress, for every plugin.

A job is a module-level function a plugin lists in ``Plugin.jobs``. It takes ids (never ORM
objects), runs inside the workspace scope it was enqueued from, reports progress with
``progress(done, total, message)`` and returns a JSON-able result. Raise ``JobError`` with a
message for the user when it cannot be done.

Each job has a row in ``jobs`` (tenant-owned, so ``GET /api/v1/jobs/{id}`` and the HTMX
progress partial are scoped like everything else). ``enqueue()`` writes that row in the
caller's transaction; the job is handed to a worker only after the commit:

- with REDIS_URL: RQ queues ``default`` and ``bulk``, run by ``flask jobs worker``;
- otherwise: an in-process worker thread (or, with QRP_JOBS_INLINE, right after the commit).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import JSON, DateTime, Integer, String, Text, func, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column

from qrplatform.extensions import db
from qrplatform.tenancy import TenantMixin, current_workspace_id, tenant_scope, unscoped

log = logging.getLogger(__name__)

QUEUES = ("default", "bulk")
# Seconds to wait before each retry of a job that is safe to repeat.
RETRY_BACKOFF = (5, 30, 120, 600)


class JobError(Exception):
    """A job cannot be done; the message is shown to the user as it is."""


class Job(TenantMixin, db.Model):
    __tablename__ = "jobs"
    __tenant_nullable__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(20), default="default")
    args: Mapped[list] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(20), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.state == "finished" else None
        return min(100, round(100 * self.done / self.total))

    @property
    def ended(self) -> bool:
        return self.state in {"finished", "failed"}


def job_name(func: Callable) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def register(app: Flask, func: Callable) -> None:
    app.extensions.setdefault("qrp.jobs", {})[job_name(func)] = func


def registered(app: Flask | None = None) -> dict[str, Callable]:
    return (app or current_app).extensions.setdefault("qrp.jobs", {})


def enqueue(func: Callable, *args, queue: str = "default", retries: int = 0,
            description: str = "", workspace_id: int | None = None) -> Job:
    """Record a job in the current transaction; it runs once that transaction commits."""
    name = job_name(func)
    if name not in registered():
        raise RuntimeError(f"job {name} is not declared in any enabled plugin's Plugin.jobs")
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; use one of {QUEUES}")
    from flask import g, has_request_context

    user = g.get("user") if has_request_context() else None
    job = Job(
        id=str(uuid.uuid4()),
        name=name,
        queue=queue,
        args=list(args),
        description=description or name.rsplit(":", 1)[-1].replace("_", " "),
        max_retries=retries,
        created_by_id=user.id if user is not None else None,
        workspace_id=workspace_id if workspace_id is not None else current_workspace_id(),
    )
    db.session.add(job)
    db.session.info.setdefault("qrp_jobs", []).append((job.id, queue, retries))
    return job


@sa_event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session) -> None:
    ids = session.info.pop("qrp_jobs", None)
    if ids and has_app_context():
        runner = current_app.extensions["qrp.jobs.runner"]
        for job_id, queue_name, retries in ids:
            runner.submit(job_id, queue_name, retries)


@sa_event.listens_for(Session, "after_rollback")
def _forget_jobs(session) -> None:
    session.info.pop("qrp_jobs", None)


# -- running ------------------------------------------------------------------------------------

_current_job: ContextVar[str | None] = ContextVar("qrp_current_job", default=None)


def _set(job_id: str, **values) -> None:
    """Update a job row on its own connection, outside the job's own transaction."""
    with db.engine.begin() as conn:
        conn.execute(update(Job.__table__).where(Job.__table__.c.id == job_id).values(**values))


def progress(done: int, total: int | None = None, message: str = "") -> None:
    """Report progress from inside a job; cheap enough to call every few percent."""
    job_id = _current_job.get()
    if job_id is None:
        return
    values: dict[str, Any] = {"done": done, "message": message[:500]}
    if total is not None:
        values["total"] = total
    _set(job_id, **values)


def _user_message(exc: BaseException) -> str:
    from qrplatform.errors import ServiceError

    if isinstance(exc, JobError | ServiceError):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__}: {exc})"


def execute(job_id: str) -> Any:
    """Run one job by id. RQ calls this in a worker; the embedded runner calls it in a thread."""
    if not has_app_context():
        with _worker_app().app_context():
            return execute(job_id)
    with unscoped():
        job = db.session.get(Job, job_id)
        if job is None:
            raise JobError(f"job {job_id} does not exist")
        name, args, workspace_id = job.name, list(job.args or []), job.workspace_id
        attempt = job.attempts + 1
        retries_left = job.max_retries - job.attempts
    db.session.rollback()
    func = registered().get(name)
    _set(job_id, state="started", attempts=attempt, started_at=datetime.now(UTC), error=None)
    token = _current_job.set(job_id)
    try:
        with tenant_scope(workspace_id) if workspace_id else unscoped():
            if func is None:
                raise JobError(f"job {name} is not declared by any enabled plugin")
            result = func(*args)
            db.session.commit()
    except Exception as exc:
        db.session.rollback()
        message = _user_message(exc)
        if retries_left > 0:
            _set(job_id, state="retrying", error=message,
                 message=f"Attempt {attempt} failed; retrying.")
        else:
            _set(job_id, state="failed", error=message, finished_at=datetime.now(UTC))
        log.warning("job %s (%s) failed on attempt %d: %s\n%s", job_id, name, attempt, message,
                    traceback.format_exc())
        raise
    finally:
        _current_job.reset(token)
        db.session.remove()
    _set(job_id, state="finished", result=result, finished_at=datetime.now(UTC))
    return result


_app_for_worker: Flask | None = None


def _worker_app() -> Flask:
    """The app a bare RQ worker process runs jobs in (``flask jobs worker`` sets it)."""
    global _app_for_worker
    if _app_for_worker is None:
        from qrplatform import create_app

        _app_for_worker = create_app()
    return _app_for_worker


def set_worker_app(app: Flask) -> None:
    global _app_for_worker
    _app_for_worker = app


class RQRunner:
    """Hands jobs to RQ; ``flask jobs worker`` runs them."""

    def __init__(self, app: Flask):
        from redis import Redis

        self.redis = Redis.from_url(app.config["REDIS_URL"])
        self.app = app

    def queue(self, name: str):
        from rq import Queue

        return Queue(name, connection=self.redis)

    def submit(self, job_id: str, queue_name: str = "default", retries: int = 0) -> None:
        from rq import Retry

        retry = Retry(max=retries, interval=list(RETRY_BACKOFF[:retries])) if retries else None
        self.queue(queue_name).enqueue(
            execute, job_id, job_id=job_id, retry=retry, job_timeout=3600,
            result_ttl=86400, failure_ttl=7 * 86400,
        )

    def depth(self) -> dict[str, int]:
        return {name: self.queue(name).count for name in QUEUES}


class ThreadRunner:
    """The embedded runner: one worker thread per process, with retries and backoff."""

    def __init__(self, app: Flask, inline: bool = False):
        self.app = app
        self.inline = inline
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job_id: str, queue_name: str = "default", retries: int = 0) -> None:
        if self.inline:
            self._run(job_id)
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="qrp-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job_id)

    def _loop(self) -> None:
        while True:
            self._run(self._queue.get())

    def _run(self, job_id: str) -> None:
        # A fresh app context means a fresh database session, apart from the committer's.
        for attempt in range(len(RETRY_BACKOFF) + 1):
            with self.app.app_context():
                try:
                    execute(job_id)
                    return
                except Exception:
                    with unscoped():
                        job = db.session.get(Job, job_id)
                        again = job is not None and job.state == "retrying"
                    db.session.remove()
            if not again:
                return
            if not self.inline:
                time.sleep(RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF) - 1)])

    def depth(self) -> dict[str, int]:
        return {"default": self._queue.qsize(), "bulk": 0}


def init_app(app: Flask) -> None:
    if app.config.get("REDIS_URL") and not app.config.get("QRP_JOBS_INLINE"):
        runner: Any = RQRunner(app)
    else:
        runner = ThreadRunner(app, inline=bool(app.config.get("QRP_JOBS_INLINE")))
    app.extensions["qrp.jobs.runner"] = runner
