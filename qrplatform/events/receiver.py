"""No broker, a preloading server: one process stores what every web worker's stream flush
hands it, at background priority.

In the embedded setup the stream events (scans, page views) go to the batch receivers in the
process that emitted them (``LocalStreamSink``). Under gunicorn that process is a web worker:
its flush thread then holds the interpreter while it turns scans into rows, and each request
arriving meanwhile waits for it (docs/performance.md: the redirect's p99 at 1.5 to 1.8 times
the bare app's, against 1.0 to 1.1 with a broker, where that work runs in a consumer at
background priority). So the server's master starts a ``StreamReceiver`` before it forks its
workers (gunicorn.conf.py's ``when_ready``): a process forked from the built app, at
QRP_BACKGROUND_NICE, reading batches from a ``multiprocessing`` queue the workers inherit.

A worker hands a batch over in a few microseconds an event (its JSON, to a queue whose
feeder thread writes it to a pipe). When the receiver cannot take it (gone, or its queue full
for longer than ``HANDOVER_TIMEOUT``), the worker stores the batch itself, as before: slower
answers, nothing lost. Events already handed to a receiver that dies are lost with it, as a
worker's own buffer is when a worker is killed. At shutdown the master stops the receiver
after the workers have flushed (``stop``): it stores what is queued, then exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import time
from collections.abc import Iterable
from multiprocessing import get_context

from flask import Flask

from qrplatform.events.envelope import Event
from qrplatform.plugins import Metric

log = logging.getLogger(__name__)

QUEUED_BATCHES = 64       # each a worker's flush: the queue's bound
HANDOVER_TIMEOUT = 0.5    # seconds a worker waits for room before storing a batch itself
# Seconds a store waits after its first batch for the workers' next ones: under load, a few
# thousand events a transaction instead of one flush's few hundred (the receivers' CPU, and
# PostgreSQL's, which competes with the web workers at full priority, a fifth less an event).
GATHER_SECONDS = 1.0
_STOP = None
# Pauses between attempts to store a batch the database refused, then it is dropped (logged).
RETRY_PAUSES = (0.5, 1, 2, 5, 10, 30, 30, 30, 30, 30)
STOPPING_ATTEMPTS = 3     # attempts when the server is stopping (it waits for the receiver)


RECEIVER_METRIC = Metric(
    "qrp_events_stream_receiver_events_total",
    "Stream events of the web workers with no broker, under gunicorn (events.receiver): "
    "outcome=handed to the stream receiver, stored_by_worker when the receiver could not take "
    "them, given_up by the receiver after its retries", labels=("outcome",))


class StreamReceiver:
    """``StreamReceiver(app, flush_size).start()`` in the master; ``take(events)`` in a forked
    worker; ``stop()`` in the master once the workers are gone. ``flush_size``: the workers'
    largest flush (their StreamBuffer's ``max_buffer``), the most one store gathers."""

    def __init__(self, app: Flask, flush_size: int):
        self.app = app
        self.flush_size = flush_size
        # Made in the master before any worker is forked, and never used there until the
        # workers are gone: each worker's copy starts its own feeder thread on its first put.
        self.queue = get_context("fork").Queue(QUEUED_BATCHES)
        self.pid: int | None = None
        self._gone = False

    def start(self, listeners: Iterable = ()) -> None:
        """Fork the receiver; ``listeners``: the server's sockets, closed in the receiver (a
        server started again must be able to bind them while this one still stores)."""
        # A plain fork, not a multiprocessing.Process: forked workers would inherit that as a
        # child of theirs and, leaving, terminate it (multiprocessing's exit handler).
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                for listener in listeners:
                    listener.close()
                self._run()
                status = 0
            finally:
                os._exit(status)
        self.pid = pid
        log.info("stream receiver: process %d stores the web workers' scans and page views "
                 "(no broker)", pid)

    def alive(self) -> bool:
        """Whether the receiver process is there (the master reaps it when it ends)."""
        if self._gone or self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            self._gone = True
            log.error("stream receiver: process %d is gone; scans are stored by the web "
                      "workers themselves until the server restarts", self.pid)
            return False
        return True

    def take(self, events: list[Event]) -> bool:
        """Queue a batch for the receiver; False (nothing queued) when it cannot take it."""
        taken = self.alive()
        if taken:
            try:
                self.queue.put([event.to_json() for event in events], timeout=HANDOVER_TIMEOUT)
            except queue.Full:
                log.warning("stream receiver: its queue stayed full for %.1f s; this worker "
                            "stores %d events itself", HANDOVER_TIMEOUT, len(events))
                taken = False
        self._count("handed" if taken else "stored_by_worker", len(events))
        return taken

    def _count(self, outcome: str, events: int) -> None:
        counter = self.app.extensions["qrp.metrics"].declared[RECEIVER_METRIC.name]
        counter.labels(outcome=outcome).inc(events)

    def stop(self, timeout: float = 30.0) -> None:
        """Store what is queued, then end the receiver (the master, after its workers)."""
        if not self.alive():
            return
        with contextlib.suppress(queue.Full):
            self.queue.put(_STOP, timeout=timeout)
        deadline = time.monotonic() + timeout
        while not self._ended() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._ended():
            log.error("stream receiver: still storing after %.0f s; stopped", timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _ended(self) -> bool:
        """In the master: whether the receiver has exited (reaped here or by gunicorn)."""
        try:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return True
        return pid != 0

    # -- in the receiver process ------------------------------------------------------------

    def _run(self) -> None:
        from qrplatform.processes import after_fork, run_as_background_service

        # The master's handlers are gunicorn's: the master stops this process through the
        # queue, after its workers, and Ctrl-C reaches the whole process group.
        for number in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                       signal.SIGUSR2, signal.SIGWINCH, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(number, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        after_fork(self.app)
        with self.app.app_context():
            run_as_background_service()
        master = os.getppid()
        carried = None  # a batch that would have taken the last store past flush_size
        stopping = False
        while not stopping:
            try:
                first = carried if carried is not None else self.queue.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != master:  # the master was killed: nobody will stop us
                    log.error("stream receiver: the server's master is gone; stopping")
                    return
                continue
            except Exception:
                # A worker killed half-way through writing a batch leaves the pipe unreadable:
                # end here, and the workers store their scans themselves.
                log.exception("stream receiver: the queue cannot be read; stopping")
                raise
            received, carried, stopping = self._gather(first)
            if received:
                self.store(received, stopping)

    def _gather(self, first) -> tuple[list[Event], list | None, bool]:
        """The events of ``first`` (a batch, or the master's stop) and of the batches queued
        within ``GATHER_SECONDS`` of it, up to ``flush_size`` (a worker's largest flush): fewer,
        larger statements, and no longer a transaction than one flush. Also the batch that
        would have gone past it (the next store's first), and whether the master asked to
        stop (which ends the gathering at once)."""
        carried, stopping = None, first is _STOP
        batches = [] if stopping else [first]
        count = sum(map(len, batches))
        deadline = time.monotonic() + GATHER_SECONDS
        while not stopping and count < self.flush_size:
            try:
                batch = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if batch is _STOP:
                stopping = True
            elif count + len(batch) > self.flush_size:
                carried = batch
                break
            else:
                batches.append(batch)
                count += len(batch)
        return [Event.from_json(raw) for batch in batches for raw in batch], carried, stopping

    def store(self, events: list[Event], stopping: bool = False) -> bool:
        """Hand the events to the batch receivers, trying again while the database refuses
        (fewer times when the server is stopping); False when it gave up on them."""
        from qrplatform.events.dispatch import deliver_batch
        from qrplatform.extensions import db

        for attempt, pause in enumerate(RETRY_PAUSES, start=1):
            with self.app.app_context():
                try:
                    deliver_batch(events)
                    return True
                except Exception:
                    # As a worker's flush does: keep the batch and try again (the database
                    # restarting); workers store their own batches meanwhile, once this one's
                    # queue is full.
                    log.exception("stream receiver: %d events not stored (attempt %d)",
                                  len(events), attempt)
                finally:
                    db.session.remove()
            if attempt == len(RETRY_PAUSES) or (stopping and attempt >= STOPPING_ATTEMPTS):
                break
            time.sleep(pause)
        log.error("stream receiver: gave up on %d events", len(events))
        self._count("given_up", len(events))
        return False
