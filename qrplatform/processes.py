"""How the app's long-running processes start: forked from a master that built the app once
(gunicorn's preload_app: what the master prepares, what each forked process drops first), and
the background services at a lower CPU priority than the web workers."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
from collections.abc import Iterator

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from qrplatform import telemetry, useragents
from qrplatform.extensions import db


def before_fork(app: Flask) -> None:
    """In the process that built ``app``, before workers are forked from it (gunicorn's
    preload_app): do once what each worker would otherwise do on its first request, which a
    recycled worker's first callers wait for (a quarter of a second, more on a busy machine):
    the ORM's mapper configuration, the database dialect's first-connection setup and the
    user-agent patterns. The connection is closed again; workers open their own."""
    configure_mappers()
    with app.app_context():
        for engine in db.engines.values():
            try:
                with engine.connect():
                    pass
            except SQLAlchemyError as exc:  # workers will say so on their first request
                app.logger.warning("database not reachable before forking workers: %s", exc)
            engine.dispose()
    useragents.warm_up()


def after_fork(app: Flask) -> None:
    """In a process forked from one that built ``app`` (gunicorn's preload_app): drop what
    would otherwise be shared with the parent over the same sockets. Building the app opens no
    database connection and starts no thread, and Redis, Kafka, Sentry, the link cache and
    the metrics notice a new process id themselves; pooled database connections (dropped
    unclosed: they are the parent's) and the CloudWatch client would not."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
    telemetry.after_fork(app)


def run_as_background_service() -> None:
    """Give this process (every thread it has, and what it starts or forks later) the CPU
    priority of background work, QRP_BACKGROUND_NICE (19, the lowest, by default; 0 keeps the
    web workers' own). On a machine it shares with the web workers, a scan's redirect is then
    answered first, and the recording catches up from the broker's backlog once the burst is
    over (docs/performance.md: the redirect's p99 went from 1.4 to 1.2 times the bare app's).
    Under load that lasts, the backlog grows: qrp_events_consumer_lag shows it.

    The objects made so far are moved out of the garbage collector's sight first: they live as
    long as the process, and the collections a batch's rows set off would otherwise walk them
    all again (turning scan events into rows took nearly twice the CPU). ``wsgi`` froze the
    app it built already; this takes what the command made since, and an app built another
    way (a test's, a bench's)."""
    gc.freeze()
    niceness = current_app.config["QRP_BACKGROUND_NICE"]
    if niceness <= os.getpriority(os.PRIO_PROCESS, 0):
        return
    # Linux keeps a priority per thread; the app may already have started some (Sentry's,
    # the log shippers').
    tasks = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]
    for task in tasks:
        with contextlib.suppress(ProcessLookupError):  # a thread that has ended since
            os.setpriority(os.PRIO_PROCESS, int(task), niceness)
    current_app.logger.info("running at niceness %d (QRP_BACKGROUND_NICE): the web workers on "
                            "this machine come first", niceness)


@contextlib.contextmanager
def stop_on_sigterm(stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """SIGTERM sets ``stop`` (a new event if None; yielded): a service's loop finishes the
    pass it is in and returns, and the process exits normally (its atexit flushes run).
    Raising from the handler instead would land anywhere, inside a library holding a lock its
    exit then waits for (main thread only: only it receives signals)."""
    stop = stop or threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    owner = os.getpid()

    def on_sigterm(signum, frame) -> None:
        if os.getpid() != owner:
            # A child forked inside the block (RQ's scheduler, before it installs handlers of
            # its own) has no loop reading ``stop``: it dies, as SIGTERM's default would make
            # it, instead of living on while its parent waits for it to end.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
