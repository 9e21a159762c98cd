"""The outbox: events wait in the database until the relay has sent them.

``relay_once()`` takes a batch of unsent rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several relays can run), hands them to the configured sender and marks them sent. If the
sender fails (the broker is down), the rows stay, their attempt count and error are noted, and
the next pass tries again: a user's request never waits on, or fails because of, the broker.

The backlog shows in /readyz and, at scrape time, as the Prometheus gauges
``qrp_events_outbox_backlog``, ``qrp_events_outbox_oldest_age_seconds`` and
``qrp_events_stream_spool_backlog`` (``EventBacklogCollector``, which qrplatform.metrics adds
to the /metrics registry).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from flask import current_app, has_app_context
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qrplatform import bulkinsert
from qrplatform.events.envelope import Event, topic_for
from qrplatform.events.models import OutboxEvent
from qrplatform.extensions import db

log = logging.getLogger(__name__)


def add_to_outbox(events: list[Event]) -> None:
    """The events into the session's transaction: one row each through the ORM, or many at
    once through ``bulkinsert`` (a bulk upload's thousands)."""
    rows = [OutboxEvent(id=event.id, type=event.type, topic=topic_for(event.type),
                        key=event.key.decode(), payload=event.to_json()) for event in events]
    if len(rows) == 1:
        db.session.add(rows[0])
    else:
        bulkinsert.insert_new(rows)
    db.session.info["qrp_outbox_dirty"] = True


@sa_event.listens_for(Session, "after_commit")
def _wake_relay(session) -> None:
    # The flag survives rollbacks on purpose: a savepoint rolled back inside a transaction that
    # then commits must still wake the relay; a needless wake costs one empty query.
    if session.info.pop("qrp_outbox_dirty", False):
        bus = current_app.extensions.get("qrp.events") if current_app else None
        if bus is not None:
            bus.wake()


def backlog() -> int:
    return db.session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
    ) or 0


def parked_events() -> int:
    """Events some consumer group gave up on (dead letters waiting for a replay)."""
    from qrplatform.events.models import EventFailure

    return db.session.scalar(select(func.count()).select_from(EventFailure)
                             .where(EventFailure.parked_at.is_not(None))) or 0


def oldest_pending_age_seconds() -> float:
    oldest = db.session.scalar(
        select(func.min(OutboxEvent.created_at)).where(OutboxEvent.published_at.is_(None))
    )
    if oldest is None:
        return 0.0
    return max(0.0, (datetime.now(UTC) - oldest).total_seconds())


def relay_once(batch_size: int = 500) -> int:
    """Send one batch of pending events. Returns how many were sent."""
    sender = current_app.extensions["qrp.events"].sender
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
        .limit(batch_size)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    if not rows:
        db.session.rollback()
        return 0
    try:
        sender.send([(row.topic, Event.from_json(row.payload)) for row in rows])
    except Exception as exc:
        db.session.rollback()
        log.warning("event relay: %d events stay in the outbox: %s", len(rows), exc)
        _note_failure([row.id for row in rows], exc)
        return 0
    now = datetime.now(UTC)
    for row in rows:
        row.published_at = now
        row.attempts += 1
    db.session.commit()
    return len(rows)


def _note_failure(ids: list[str], exc: Exception) -> None:
    for row in db.session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(ids))):
        row.attempts += 1
        row.last_error = str(exc)[:1000]
    db.session.commit()


def drain(max_batches: int = 100) -> int:
    """Relay until the outbox is empty (tests and one-shot runs)."""
    total = 0
    for _ in range(max_batches):
        sent = relay_once()
        if not sent:
            break
        total += sent
    return total


class RelayThread:
    """The embedded relay for `make run`: woken after each commit that wrote events."""

    def __init__(self, app, interval: float = 2.0):
        self.app = app
        self.interval = interval
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="qrp-relay", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self.app.app_context():
                try:
                    drain()
                except Exception:
                    log.exception("embedded event relay failed; retrying")
                finally:
                    db.session.remove()


class EventBacklogCollector(Collector):
    """Gauges read when Prometheus scrapes, from the app serving /metrics.

    Counted in the database (and the spool) rather than kept in process memory, so every web
    worker reports the same number whichever process relays.
    """

    def collect(self):
        if not has_app_context():
            return
        from qrplatform.events.stream import spool_of

        try:
            pending, age = backlog(), oldest_pending_age_seconds()
            spool = spool_of()
            spooled = len(spool) if spool is not None else 0
        except Exception:
            log.warning("event backlog metrics unavailable", exc_info=True)
            return
        finally:
            db.session.rollback()
        yield GaugeMetricFamily("qrp_events_outbox_backlog",
                                "Events committed to the outbox, not yet sent", value=pending)
        yield GaugeMetricFamily("qrp_events_outbox_oldest_age_seconds",
                                "Age of the oldest event still in the outbox", value=age)
        yield GaugeMetricFamily("qrp_events_stream_spool_backlog",
                                "Stream events spooled while the broker was unreachable",
                                value=spooled)

