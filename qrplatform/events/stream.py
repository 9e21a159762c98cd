"""High-volume events (scans, page views) without a database transaction on the request path.

``emit_stream()`` appends the event to this process's ``StreamBuffer`` (a lock and a deque: a
few microseconds) and returns. A background thread flushes the buffer every
``QRP_STREAM_FLUSH_INTERVAL`` seconds, or sooner when it fills, to the sink:

- embedded setup: the batch receivers, in-process;
- with Kafka: the Kafka producer (see ``qrplatform.events.kafka``), with a durable spool for
  what the broker did not take.

On shutdown (atexit, gunicorn's worker_exit) the buffer is flushed, so SIGTERM loses nothing.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque

from flask import current_app

from qrplatform.events import Event

log = logging.getLogger(__name__)


class LocalStreamSink:
    """No broker: hand the batch to the plugins' batch receivers in this process."""

    def __init__(self, app):
        self.app = app

    def write(self, events: list[Event]) -> None:
        from qrplatform.events.dispatch import deliver_batch
        from qrplatform.extensions import db

        with self.app.app_context():
            try:
                deliver_batch(events)
            finally:
                db.session.remove()

    def close(self) -> None:
        pass


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
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        try:
            self.flush()
        except Exception:
            log.exception("stream buffer: %d events could not be flushed at shutdown",
                          len(self._items))
        self.sink.close()


def init_app(app) -> StreamBuffer:
    if app.config.get("KAFKA_BOOTSTRAP_SERVERS"):
        from qrplatform.events.kafka import KafkaStreamSink

        sink = KafkaStreamSink(app)
    else:
        sink = LocalStreamSink(app)
    buffer = StreamBuffer(
        app,
        sink,
        interval=float(app.config.get("QRP_STREAM_FLUSH_INTERVAL", 0.2)),
        background=app.config.get("QRP_STREAM_BACKGROUND", True),
    )
    app.extensions["qrp.stream"] = buffer
    return buffer


def stream_buffer() -> StreamBuffer:
    return current_app.extensions["qrp.stream"]
