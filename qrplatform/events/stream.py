"""High-volume events (scans, page views) without a database transaction on the request path.

``emit_stream()`` appends the event to this process's ``StreamBuffer`` (a lock and a deque: a
few microseconds) and returns. A background thread flushes the buffer every
``QRP_STREAM_FLUSH_INTERVAL`` seconds, or sooner when it fills, to the sink:

- embedded setup: the batch receivers, in-process (``LocalStreamSink``), or under gunicorn in
  the server's stream receiver process (``events.receiver``);
- with Kafka: a buffered Kafka producer (``qrplatform.events.kafka.KafkaStreamSink``). What the
  broker does not acknowledge in time goes to a durable spool — a Redis stream when REDIS_URL
  is set (shared by every web container), else a SQLite file under the instance folder — and
  the relay (``flask events relay``) drains the spool back to Kafka with ``drain_spool()``.

On shutdown (SIGTERM, Ctrl-C, a normal exit, gunicorn stopping a worker) the buffer is flushed
to the broker or, failing that, to the spool, so a stopping process loses nothing. Delivery is
at least once: a batch the broker took but did not acknowledge may be sent again from the spool,
and batch receivers are idempotent by event id.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import signal
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from qrplatform.events.envelope import Event
from qrplatform.events.receiver import StreamReceiver
from qrplatform.plugins import Metric

log = logging.getLogger(__name__)

DEFAULT_SPOOL_KEY = "qrp:events:stream-spool"
DEFAULT_SPOOL_FILE = "events-stream-spool.sqlite3"


class LocalStreamSink:
    """No broker: hand the batch to the plugins' batch receivers in this process."""

    spool = None

    def __init__(self, app):
        self.app = app
        # Under a preloading server, the master's receiver process (see events.receiver).
        self.receiver = None

    def write(self, events: list[Event]) -> None:
        if self.receiver is not None and self.receiver.take(events):
            return
        from qrplatform.events.dispatch import deliver_batch
        from qrplatform.extensions import db

        with self.app.app_context():
            try:
                deliver_batch(events)
            finally:
                db.session.remove()

    def close(self) -> None:
        pass


# --- the durable spool ---------------------------------------------------------------------


@dataclass(frozen=True)
class SpooledEvent:
    spool_id: str | int
    topic: str
    event: Event


class RedisSpool:
    """Events the broker did not take, in a Redis stream every relay can drain."""

    def __init__(self, url: str, key: str = DEFAULT_SPOOL_KEY):
        from redis import Redis

        self.redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.key = key

    def put(self, items: list[tuple[str, Event]]) -> None:
        with self.redis.pipeline(transaction=True) as pipe:  # the whole batch, or none of it
            for topic, event in items:
                pipe.xadd(self.key, {"topic": topic, "event": event.to_json()})
            pipe.execute()

    def peek(self, limit: int) -> list[SpooledEvent]:
        return [SpooledEvent(entry_id, fields[b"topic"].decode(),
                             Event.from_json(fields[b"event"]))
                for entry_id, fields in self.redis.xrange(self.key, count=limit)]

    def remove(self, spool_ids: list) -> None:
        if spool_ids:
            self.redis.xdel(self.key, *spool_ids)

    def __len__(self) -> int:
        return self.redis.xlen(self.key)

    @contextmanager
    def draining(self) -> Iterator[bool]:
        """One drainer at a time across relays; yields False when another one is at it."""
        from redis.exceptions import LockError

        lock = self.redis.lock(self.key + ":drain", timeout=120)
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                # An expired lock means another drainer may resend a batch: receivers dedupe.
                with suppress(LockError):
                    lock.release()

    def close(self) -> None:
        self.redis.close()


class FileSpool:
    """Events the broker did not take, in a SQLite file (created on first use).

    SQLite gives atomic, fsynced appends that several processes on this host can share. The
    relay that drains it must run on the same host (same instance folder).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ready = False

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.execute("PRAGMA synchronous=FULL")
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY "
                             "AUTOINCREMENT, topic TEXT NOT NULL, event TEXT NOT NULL)")
                self._ready = True
            with conn:  # commit, or roll back on error
                yield conn

    def put(self, items: list[tuple[str, Event]]) -> None:
        with self._transaction() as conn:
            conn.executemany("INSERT INTO spool (topic, event) VALUES (?, ?)",
                             [(topic, event.to_json()) for topic, event in items])

    def peek(self, limit: int) -> list[SpooledEvent]:
        if not self.path.exists():
            return []
        with self._transaction() as conn:
            rows = conn.execute("SELECT id, topic, event FROM spool ORDER BY id LIMIT ?",
                                (limit,)).fetchall()
        return [SpooledEvent(row_id, topic, Event.from_json(raw)) for row_id, topic, raw in rows]

    def remove(self, spool_ids: list) -> None:
        if spool_ids:
            with self._transaction() as conn:
                conn.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in spool_ids])

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self._transaction() as conn:
            return conn.execute("SELECT count(*) FROM spool").fetchone()[0]

    @contextmanager
    def draining(self) -> Iterator[bool]:
        """One drainer at a time on this host; yields False when another one is at it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True

    def close(self) -> None:
        pass


def make_spool(app: Flask) -> RedisSpool | FileSpool:
    """Redis when REDIS_URL is set (any container's relay can drain it), else a local file."""
    if app.config.get("REDIS_URL"):
        return RedisSpool(app.config["REDIS_URL"],
                          app.config.get("QRP_STREAM_SPOOL_KEY") or DEFAULT_SPOOL_KEY)
    path = app.config.get("QRP_STREAM_SPOOL_PATH") or Path(app.instance_path) / DEFAULT_SPOOL_FILE
    return FileSpool(path)


def spool_of(app: Flask | None = None) -> RedisSpool | FileSpool | None:
    """This app's stream spool; None in the embedded setup, which has no broker to miss."""
    app = app or current_app._get_current_object()
    return app.extensions["qrp.stream"].sink.spool


DRAINED_METRIC = Metric("qrp_events_stream_spool_drained_total",
                        "Stream events sent from the spool and acknowledged by the broker "
                        "(its rate is the drain rate)")
# The batch never shrinks below this under back-pressure.
MIN_DRAIN_BATCH = 10


def drain_spool(app: Flask | None = None, batch_size: int = 500) -> int:
    """Send spooled stream events to the broker (the relay calls this). Returns how many.

    An event leaves the spool once the broker acknowledged it: a batch the broker took only
    in part loses the acknowledged events and keeps the rest, which go again in a smaller
    batch (back-pressure halves it; a whole batch taken doubles it back up to ``batch_size``).
    If the broker takes nothing, the events stay for the next pass.
    """
    from qrplatform.events.kafka import KafkaDeliveryError

    app = app or current_app._get_current_object()
    spool = spool_of(app)
    if spool is None or not len(spool):  # the usual case: no lock to take, nothing to do
        return 0
    sender = app.extensions["qrp.events"].sender
    # The app's metrics by name (qrplatform.metrics imports this module's caller).
    drained = app.extensions["qrp.metrics"].declared[DRAINED_METRIC.name]
    sent, size = 0, batch_size
    with spool.draining() as acquired:
        if not acquired:
            return 0
        while entries := spool.peek(size):
            items = [(entry.topic, entry.event) for entry in entries]
            try:
                sender.send(items)
                unsent: set[int] = set()
            except KafkaDeliveryError as exc:
                unsent = {id(item) for item in exc.unsent}
                error: Exception | None = exc
            except Exception as exc:
                unsent, error = {id(item) for item in items}, exc
            taken = [entry.spool_id for entry, item in zip(entries, items, strict=True)
                     if id(item) not in unsent]
            spool.remove(taken)
            sent += len(taken)
            drained.inc(len(taken))
            if not taken:
                log.warning("stream spool: events stay spooled until the broker is back: %s",
                            error)
                break
            size = (min(batch_size, size * 2) if not unsent
                    else max(MIN_DRAIN_BATCH, min(size // 2, len(taken))))
    return sent


# --- the buffer ----------------------------------------------------------------------------


class StreamBuffer:
    def __init__(self, app, sink, *, interval: float = 0.2, max_buffer: int = 5000,
                 background: bool = True):
        self.app = app
        self.sink = sink
        self.interval = interval
        self.max_buffer = max_buffer
        self.background = background
        self._items: deque[Event] = deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        atexit.register(self.close)

    def append(self, event: Event) -> None:
        with self._lock:
            self._items.append(event)
            size = len(self._items)
        if not self.background:
            return
        if self._thread is None or not self._thread.is_alive():
            self._start()
        if size >= self.max_buffer:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._items)

    def pending(self) -> list[Event]:
        """A snapshot of the events not flushed yet."""
        with self._lock:
            return list(self._items)

    def discard(self) -> int:
        """Drop what is buffered (tests, after the rows the events refer to are gone)."""
        with self._lock:
            count = len(self._items)
            self._items.clear()
        return count

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="qrp-stream", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("stream flush failed; the events stay buffered")

    def flush(self) -> int:
        """Write everything buffered to the sink. Events go back to the front on failure."""
        with self._flush_lock:
            with self._lock:
                batch = list(self._items)
                self._items.clear()
            if not batch:
                return 0
            try:
                self.sink.write(batch)
            except Exception:
                with self._lock:
                    self._items.extendleft(reversed(batch))
                raise
            return len(batch)

    def close(self) -> None:
        """Flush and stop; runs at exit, so a stopping process hands over what it holds."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._wake.set()
        try:
            self.flush()
        except Exception:
            log.exception("stream buffer: %d events could not be flushed at shutdown",
                          len(self._items))
        self.sink.close()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def flush_on_sigterm() -> None:
    """Make SIGTERM a normal exit, so the atexit flush runs instead of the process vanishing.

    Only when nobody else handles SIGTERM: gunicorn, RQ and the consumer install their own
    graceful handlers, and their processes then exit normally, which runs the flush too.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


class KafkaSinkOnFirstWrite:
    """The Kafka stream sink (``qrplatform.events.kafka.KafkaStreamSink``), made when it is
    first handed a batch: kafka-python takes longer to import than much of the app, and most
    processes built with KAFKA_BOOTSTRAP_SERVERS (a command, a job worker) never stream."""

    def __init__(self, app: Flask, spool):
        self.app = app
        self.spool = spool
        self._sink = None
        self._lock = threading.Lock()

    def kafka(self):
        with self._lock:
            if self._sink is None:
                from qrplatform.events.kafka import KafkaStreamSink

                self._sink = KafkaStreamSink(self.app, self.spool)
            return self._sink

    def write(self, events: list[Event]) -> None:
        self.kafka().write(events)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()  # closes the spool too
        else:
            self.spool.close()


def init_app(app) -> StreamBuffer:
    if app.config.get("KAFKA_BOOTSTRAP_SERVERS"):
        sink = KafkaSinkOnFirstWrite(app, make_spool(app))
    else:
        sink = LocalStreamSink(app)
    buffer = StreamBuffer(
        app,
        sink,
        interval=float(app.config.get("QRP_STREAM_FLUSH_INTERVAL", 0.2)),
        background=app.config.get("QRP_STREAM_BACKGROUND", True),
    )
    app.extensions["qrp.stream"] = buffer
    if app.config.get("QRP_STREAM_BACKGROUND", True):
        flush_on_sigterm()
    return buffer


def start_receiver(app: Flask, listeners: Iterable = ()) -> None:
    """Before a preloading server forks its workers (gunicorn.conf.py's ``when_ready``): with no
    broker, a process of its own stores what the workers' flushes hand it
    (``events.receiver``; QRP_STREAM_RECEIVER=0 keeps that work in the workers)."""
    buffer = app.extensions.get("qrp.stream")
    if buffer is None or not isinstance(buffer.sink, LocalStreamSink) \
            or buffer.sink.receiver is not None or not app.config["QRP_STREAM_RECEIVER"]:
        return
    buffer.sink.receiver = StreamReceiver(app, buffer.max_buffer)
    buffer.sink.receiver.start(listeners)


def stop_receiver(app: Flask) -> None:
    """When the server stops, after its workers: the receiver stores what they handed it."""
    buffer = app.extensions.get("qrp.stream")
    receiver = getattr(buffer.sink, "receiver", None) if buffer is not None else None
    if receiver is not None:
        receiver.stop()


def stream_buffer(app: Flask | None = None) -> StreamBuffer:
    return (app or current_app).extensions["qrp.stream"]
