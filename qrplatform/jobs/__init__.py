"""Background jobs with progress, for every plugin.

A job is a module-level function a plugin lists in ``Plugin.jobs``; it is registered as
``<plugin>.<function name>`` and enqueued by that name (``enqueue("qr.bulk_create", key)``), so
a service never imports the module that holds its jobs. It takes ids (never ORM objects), runs
inside the workspace scope it was enqueued from, reports progress with ``progress(done, total,
message)`` and returns a JSON-able result. Raise ``JobError`` with a message for the user when
it cannot be done: that failure is final, it is not retried.

Each job has a row in ``jobs`` (tenant-owned, so ``GET /api/v1/jobs/{id}`` and the HTMX
progress partial are scoped like everything else). ``enqueue()`` writes that row in the
caller's transaction; the job is handed to a worker only after the outermost commit (a job
enqueued in a transaction or savepoint that is rolled back never runs):

- with REDIS_URL: RQ queues ``default`` and ``bulk``, run by ``flask jobs worker``;
- otherwise: an in-process worker thread (or, with QRP_JOBS_INLINE, right after the commit).

A job declared safe to repeat (``enqueue(..., retries=3)``) is retried after an unexpected
error, waiting ``QRP_JOBS_RETRY_BACKOFF`` seconds (one entry per retry, the last one repeats).
A job can also wait before it first runs (``enqueue(..., delay=300)``): RQ's scheduler (run by
``flask jobs worker``) queues it when its time comes; the embedded runner keeps a timer; the
inline runner of tests keeps it until the test calls ``run_delayed()``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g, has_app_context, has_request_context
from sqlalchemy import JSON, Integer, String, Text, func, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from qrplatform import metrics, sentry
from qrplatform.extensions import db
from qrplatform.registry import CORE, registry
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin, current_workspace_id, tenant_scope, unscoped

if TYPE_CHECKING:
    import rq

log = logging.getLogger(__name__)
run_log = logging.getLogger("qrplatform.jobs.run")

QUEUES = ("default", "bulk")
# Seconds to wait before each retry of a job that is safe to repeat; the last entry repeats.
DEFAULT_RETRY_BACKOFF = (5, 30, 120, 600)
# Where enqueue() parks submissions until the outermost commit (Session.info key).
_PENDING = "qrp_jobs_pending"


class JobError(Exception):
    """A job cannot be done: the message is shown to the user as it is, and the job is not
    retried (repeating it would fail the same way)."""


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.state == "finished" else None
        return min(100, round(100 * self.done / self.total))

    @property
    def ended(self) -> bool:
        return self.state in {"finished", "failed"}


def job_name(func: Callable) -> str:
    """The name of a job the core registers (a plugin's jobs are ``<plugin>.<function>``)."""
    return f"{func.__module__}:{func.__qualname__}"


def register(app: Flask, func: Callable, name: str | None = None, owner: str = CORE) -> str:
    name = name or job_name(func)
    registry(app).add_job(name, func, owner)
    return name


def registered(app: Flask | None = None) -> dict[str, Callable]:
    return registry(app).jobs


def registered_name(job: str | Callable, app: Flask | None = None) -> str:
    """The registered name of a job given by name or by function; unknown ones raise."""
    found = registry(app)
    name = job if isinstance(job, str) else found.job_names.get(job, job_name(job))
    name = found.job_aliases.get(name, name)
    if name not in found.jobs:
        raise RuntimeError(f"job {name} is not declared in any enabled plugin's Plugin.jobs")
    return name


def retry_backoff(app: Flask | None = None) -> Sequence[float]:
    return (app or current_app).config.get("QRP_JOBS_RETRY_BACKOFF") or DEFAULT_RETRY_BACKOFF


@dataclass(frozen=True)
class Submission:
    """What a runner needs to start a job whose row is committed."""

    job_id: str
    queue: str = "default"
    retries: int = 0
    delay: float = 0.0


def enqueue(job: str | Callable, *args, queue: str = "default", retries: int = 0,
            description: str = "", workspace_id: int | None = None,
            delay: float = 0.0) -> Job:
    """Record a job, given by its registered name, in the current transaction; it runs once
    that transaction commits (``delay`` seconds later, when given).

    ``retries`` > 0 declares the job safe to repeat: an unexpected error is retried with
    backoff. ``workspace_id`` defaults to the workspace in scope (none for system jobs).
    """
    name = registered_name(job)
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; use one of {QUEUES}")
    if retries < 0 or delay < 0:
        raise ValueError("retries and delay cannot be negative")
    try:
        json.dumps(args)
    except TypeError as exc:
        raise TypeError(f"job {name} takes plain values such as ids, not objects: {exc}") from exc
    user = g.get("user") if has_request_context() else None
    job = Job(
        id=str(uuid.uuid4()),
        name=name,
        queue=queue,
        args=list(args),
        description=description or short_name(name).replace("_", " "),
        max_retries=retries,
        created_by_id=user.id if user is not None else None,
        workspace_id=workspace_id if workspace_id is not None else current_workspace_id(),
    )
    session = db.session()
    session.add(job)
    # Remember the (sub)transaction, so that rolling back a savepoint forgets its jobs only.
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append(
        (transaction, Submission(job.id, queue, retries, delay)))
    return job


def short_name(name: str) -> str:
    """``qr.bulk_create`` (or ``module:bulk_create``) → ``bulk_create``."""
    return name.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def _is_within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@sa_event.listens_for(Session, "after_commit")
def _submit_after_commit(session: Session) -> None:
    # SQLAlchemy also calls this when a savepoint is released; its jobs wait for the real commit.
    if session.get_nested_transaction() is not None:
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    if not has_app_context():
        log.error("%d job(s) committed outside an app context were not started", len(pending))
        return
    runner = current_app.extensions["qrp.jobs.runner"]
    for _transaction, submission in pending:
        try:
            runner.submit(submission)
        except Exception as exc:
            # The row is committed: say on it why the job will never run, for the user to see.
            log.exception("job %s could not be queued", submission.job_id)
            _update_row(submission.job_id, state="failed", finished_at=datetime.now(UTC),
                        error=f"The job could not be queued ({type(exc).__name__}: {exc}).")


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [(transaction, submission) for transaction, submission in pending
                                  if not _is_within(transaction, previous_transaction)]


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended; whatever after_commit did not take was never committed
    # (a rollback, or Session.close() without commit).
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


# -- running ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunningJob:
    """The job being executed in this context: its id, attempt number, retries still allowed."""

    id: str
    attempt: int
    retries_left: int


_running: ContextVar[RunningJob | None] = ContextVar("qrp_running_job", default=None)


def current() -> RunningJob | None:
    """The running job, from inside a job function (None elsewhere)."""
    return _running.get()


def produced_file(name: str, key: str) -> dict[str, Any]:
    """Result entries for a file the running job made (a private storage key): downloadable
    by the workspace at GET /api/v1/jobs/{id}/files/{name} with a token and, in a browser,
    at ``download_url``."""
    running = _running.get()
    return {"files": {name: key},
            "download_url": f"/jobs/{running.id}/files/{name}" if running else None}


def _update_row(job_id: str, **values) -> None:
    """Update a job row on its own connection, outside the job's own transaction."""
    with db.engine.begin() as conn:
        conn.execute(update(Job.__table__).where(Job.__table__.c.id == job_id).values(**values))


def progress(done: int, total: int | None = None, message: str = "") -> None:
    """Report progress from inside a job; visible at once, even before the job commits."""
    running = _running.get()
    if running is None:
        return
    values: dict[str, Any] = {"done": done, "message": message[:500]}
    if total is not None:
        values["total"] = total
    _update_row(running.id, **values)


def _user_message(exc: BaseException) -> str:
    from qrplatform.errors import ServiceError

    if isinstance(exc, JobError | ServiceError):
        return str(exc)
    # The first line only: a database error's next lines are its SQL and parameters, which the
    # log keeps and a person reading the job's page cannot act on.
    summary = next(iter(str(exc).splitlines()), "")
    return f"Unexpected error ({type(exc).__name__}{': ' + summary if summary else ''})"[:2000]


def _as_json(result: Any) -> Any:
    # The result column is JSON; dates, decimals and ids become strings rather than failing a
    # job whose work is already committed.
    return json.loads(json.dumps(result, default=str))


def execute(job_id: str, app: Flask | None = None) -> Any:
    """Run one job by id. RQ calls this in a worker; the embedded runner calls it in a thread.

    Raises what the job raised, so that RQ records the failure and retries it when allowed.
    """
    app = app or (current_app._get_current_object() if has_app_context() else _worker_app())
    # Each job runs in an app context of its own: its own database session and `g`.
    with app.app_context():
        try:
            return _execute(job_id)
        finally:
            db.session.remove()


def _execute(job_id: str) -> Any:
    with unscoped():
        job = db.session.get(Job, job_id)
        if job is None:
            log.warning("job %s no longer exists (its workspace was deleted?)", job_id)
            return None
        if job.state == "finished":  # delivered twice: the work is done
            return job.result
        name, args, workspace_id = job.name, list(job.args or []), job.workspace_id
        running = RunningJob(job_id, attempt=job.attempts + 1,
                             retries_left=job.max_retries - job.attempts)
    db.session.rollback()
    # Each attempt starts over, so its progress does too.
    _update_row(job_id, state="started", attempts=running.attempt, started_at=datetime.now(UTC),
                error=None, done=0, message="")
    found = registry()
    func = found.jobs.get(found.job_aliases.get(name, name))
    token = _running.set(running)
    try:
        with (tenant_scope(workspace_id) if workspace_id else unscoped(),
              _instrumented(running, name if func else "unregistered", workspace_id)):
            if func is None:
                raise JobError(f"The job {name} is not provided by any enabled plugin.")
            result = _as_json(func(*args))
            db.session.commit()
    except Exception as exc:
        db.session.rollback()
        _record_failure(running, exc, name)
        raise
    finally:
        _running.reset(token)
    _update_row(job_id, state="finished", result=result, finished_at=datetime.now(UTC))
    return result


@contextmanager
def _instrumented(running: RunningJob, name: str, workspace_id: int | None) -> Iterator[None]:
    """Around one attempt: a JSON log line when it ends, its duration and outcome in the
    metrics, and a breadcrumb plus the error (not a JobError or ServiceError: those are
    answers for the user) in Sentry when it fails."""
    from qrplatform.errors import ServiceError

    started = time.perf_counter()
    sentry.job_breadcrumb(running.id, name, running.attempt)
    outcome = "failed"
    try:
        yield
        outcome = "finished"
    except BaseException as exc:
        if isinstance(exc, Exception) and not isinstance(exc, JobError | ServiceError):
            sentry.capture_job_error(exc, job_id=running.id, name=name,
                                     workspace_id=workspace_id)
        raise
    finally:
        duration = time.perf_counter() - started
        metrics.observe_job(name, outcome, duration)
        run_log.info("job", extra={
            "job_id": running.id, "job": name, "workspace_id": workspace_id,
            "attempt": running.attempt, "outcome": outcome,
            "duration_ms": round(duration * 1000, 2)})


def _running_job_tags() -> dict[str, Any]:
    running = _running.get()
    return {"job_id": running.id} if running is not None else {}


sentry.add_context_tags(_running_job_tags)


def _record_failure(running: RunningJob, exc: Exception, name: str) -> None:
    message = _user_message(exc)
    final = isinstance(exc, JobError) or running.retries_left <= 0
    if final:
        _update_row(running.id, state="failed", error=message, finished_at=datetime.now(UTC))
        from rq import get_current_job

        rq_job = get_current_job()
        if rq_job is not None:
            rq_job.retries_left = 0  # a JobError would fail again: stop RQ's retries too
    else:
        _update_row(running.id, state="retrying", error=message,
                    message=f"Attempt {running.attempt} failed; trying again.")
    log.warning("job %s (%s) failed on attempt %d%s: %s", running.id, name, running.attempt,
                "" if final else ", will retry", message, exc_info=True)


_app_for_worker: Flask | None = None


def _worker_app() -> Flask:
    """The app an RQ worker process runs jobs in (``flask jobs worker`` sets it)."""
    if _app_for_worker is None:
        raise RuntimeError("No app to run jobs in: start workers with `flask jobs worker`, "
                           "which runs them inside the app.")
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

    def queue(self, name: str) -> rq.Queue:
        import rq

        return rq.Queue(name, connection=self.redis)

    def submit(self, submission: Submission) -> None:
        import rq

        retry = None
        if submission.retries:
            retry = rq.Retry(max=submission.retries, interval=list(retry_backoff(self.app)))
        # The RQ job id is ours, so RQ's registries and our rows name the same job.
        options = {"job_id": submission.job_id, "retry": retry, "job_timeout": 3600,
                   "result_ttl": 86400, "failure_ttl": 7 * 86400}
        queue = self.queue(submission.queue)
        if submission.delay > 0:
            queue.enqueue_in(timedelta(seconds=submission.delay), execute, submission.job_id,
                             **options)
        else:
            queue.enqueue(execute, submission.job_id, **options)

    def depth(self) -> dict[str, int]:
        return {name: self.queue(name).count for name in QUEUES}


def worker_class(stopping: threading.Event | None = None) -> type[rq.Worker]:
    """RQ's forking worker, with the database connections of each work horse its own; made
    when a worker starts (importing RQ would cost every process that never runs one).
    ``stopping`` is set by a SIGTERM that came while the worker was starting, before RQ's
    own handlers were installed (``processes.stop_on_sigterm``): the worker then stops at the
    top of its loop, as RQ stops on one that comes later."""
    import rq

    class Worker(rq.Worker):
        def _install_signal_handlers(self):
            super()._install_signal_handlers()
            if stopping is not None and stopping.is_set():
                self._stop_requested = True

        # RQ stops an idle worker by raising StopRequested from its SIGTERM handler, and a
        # raise from a handler lands anywhere: inside a log line being written (the registry
        # cleaning's), logging swallowed it and the worker went on to wait on Redis for jobs
        # until it was killed. The request is kept, and looked at after each cleaning, the
        # one place an idle worker writes log lines before it waits (at the INFO level).
        def _shutdown(self):
            self._stop_requested = True
            super()._shutdown()

        def run_maintenance_tasks(self):
            super().run_maintenance_tasks()
            if self._stop_requested and self.get_state() != rq.worker.WorkerStatus.BUSY:
                raise rq.exceptions.StopRequested()

        def main_work_horse(self, job: rq.job.Job, queue: rq.Queue):
            # A forked child must not talk over the parent's pooled connections: drop them
            # unclosed.
            with _worker_app().app_context():
                for engine in db.engines.values():
                    engine.dispose(close=False)
            super().main_work_horse(job, queue)

        def handle_work_horse_killed(self, job: rq.job.Job, retpid, ret_val, rusage):
            """The horse died without a word (killed, out of memory): say so on the job's
            row, which would otherwise stay ``started`` for ever. RQ retries it if retries
            are left."""
            super().handle_work_horse_killed(job, retpid, ret_val, rusage)
            error = ("The worker running this job stopped unexpectedly (killed or out of "
                     f"memory; exit status {ret_val}).")
            with _worker_app().app_context():
                if job.retries_left:
                    _update_row(job.id, state="retrying", error=error,
                                message="The worker stopped; trying again.")
                else:
                    _update_row(job.id, state="failed", error=error,
                                finished_at=datetime.now(UTC))

    return Worker


class ThreadRunner:
    """The embedded runner: one worker thread per process, with retries and backoff.

    Jobs waiting in memory are lost when the process stops; that is the price of needing no
    Redis for ``make run``. With ``inline`` the job (and its retries) runs at once, for tests;
    a delayed one waits in ``delayed`` until the test calls ``run_delayed()``.
    """

    def __init__(self, app: Flask, inline: bool = False):
        self.app = app
        self.inline = inline
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Inline only: (monotonic time it is due, job id), in submission order.
        self.delayed: list[tuple[float, str]] = []

    def submit(self, submission: Submission) -> None:
        if self.inline and submission.delay > 0:
            self.delayed.append((time.monotonic() + submission.delay, submission.job_id))
            return
        if self.inline:
            while self._run_once(submission.job_id) is not None:
                pass
            return
        if submission.delay > 0:
            timer = threading.Timer(submission.delay, self.submit,
                                    args=(Submission(submission.job_id, submission.queue),))
            timer.daemon = True
            timer.start()
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="qrp-jobs", daemon=True)
                self._thread.start()
        self._queue.put(submission.job_id)

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            try:
                delay = self._run_once(job_id)
            except Exception:
                log.exception("the job thread could not run job %s", job_id)
                continue
            if delay is not None:
                timer = threading.Timer(delay, self._queue.put, args=(job_id,))
                timer.daemon = True
                timer.start()

    def _run_once(self, job_id: str) -> float | None:
        """Run one attempt; return the seconds to wait before retrying, None when done."""
        try:
            execute(job_id, app=self.app)
            return None
        except Exception:
            pass  # execute() recorded the failure on the row; the row says what comes next
        with self.app.app_context(), unscoped():
            row = db.session.execute(
                select(Job.state, Job.attempts).where(Job.id == job_id)).first()
            db.session.remove()
        if row is None or row.state != "retrying":
            return None
        backoff = retry_backoff(self.app)
        return backoff[min(row.attempts, len(backoff)) - 1]

    def run_delayed(self, *, wait: bool = True) -> int:
        """Inline runner (tests): run the delayed jobs submitted so far, each once its delay
        has passed (``wait``) or at once. Returns how many ran; the jobs they delay in turn
        wait for the next call."""
        due, self.delayed = self.delayed, []
        for when, job_id in due:
            if wait and (pause := when - time.monotonic()) > 0:
                time.sleep(pause)
            while self._run_once(job_id) is not None:
                pass
        return len(due)

    def depth(self) -> dict[str, int]:
        return {"default": self._queue.qsize(), "bulk": 0}


def init_app(app: Flask) -> None:
    if app.config.get("REDIS_URL") and not app.config.get("QRP_JOBS_INLINE"):
        runner: Any = RQRunner(app)
    else:
        runner = ThreadRunner(app, inline=bool(app.config.get("QRP_JOBS_INLINE")))
    app.extensions["qrp.jobs.runner"] = runner
