"""Handing an event to the receivers plugins declared, once per consumer group.

A consumer group is a plugin's name: its receivers for an event run together, in one
transaction with the record that the group processed that event id, so a redelivered event
(a relay retry, a consumer killed before its offset commit) changes nothing.
Batch receivers (for high-volume stream events) get a list and keep their own idempotency.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from qrplatform.events.envelope import TOPIC_PREFIX, Event, topic_for
from qrplatform.events.models import EventFailure, ProcessedEvent
from qrplatform.extensions import db
from qrplatform.registry import registry
from qrplatform.tenancy import tenant_scope, unscoped

log = logging.getLogger(__name__)

MAX_REMEMBERED_LOOKUPS = 10_000
# Attempts before a failing event is parked as a dead letter (QRP_EVENTS_MAX_ATTEMPTS).
DEFAULT_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Receiver:
    group: str
    pattern: str
    func: Callable
    batch: bool = False

    def matches(self, event_type: str) -> bool:
        return fnmatch.fnmatchcase(event_type, self.pattern)


def registered(app=None) -> list[Receiver]:
    """Every receiver of the app; add to it only through ``register`` (which resets lookups)."""
    return (app or current_app).extensions.setdefault("qrp.receivers", [])


def _lookups(app=None) -> dict[tuple, tuple[Receiver, ...]]:
    return (app or current_app).extensions.setdefault("qrp.receiver_lookups", {})


def register(app, group: str, pattern: str, func: Callable, *, batch: bool = False) -> None:
    registered(app).append(Receiver(group, pattern, func, batch))
    _lookups(app).clear()


def groups() -> list[str]:
    return sorted({r.group for r in registered()})


def receivers_for(event_type: str, group: str | None = None, *, batch: bool = False
                  ) -> tuple[Receiver, ...]:
    """The receivers for an event type, remembered: a consumer asks for every record, and
    matching each pattern each time cost more than some receivers themselves."""
    app = current_app._get_current_object()
    lookups = _lookups(app)
    key = (event_type, group, batch)
    found = lookups.get(key)
    if found is None:
        if len(lookups) >= MAX_REMEMBERED_LOOKUPS:
            lookups.clear()  # records with made-up types must not grow it without bound
        found = lookups[key] = tuple(
            r for r in registered(app)
            if r.batch == batch and group in (None, r.group) and r.matches(event_type))
    return found


def groups_for(event_type: str) -> list[str]:
    return sorted({r.group for r in registered() if not r.batch and r.matches(event_type)})


def _is_pattern(text: str) -> bool:
    return any(char in text for char in "*?[")


def topics_for_group(group: str, app=None) -> set[str]:
    """The Kafka topics a consumer group must read to see every event its receivers match.

    A receiver for ``qr.created`` needs ``qrp.qr``; one for ``qr.*`` needs ``qrp.qr`` plus any
    stream topic a ``qr.`` stream type is routed to; batch receivers read stream topics.
    """
    app = app or current_app._get_current_object()
    known_types = set(registry(app).event_types) | set(registry(app).stream_topics)
    topics: set[str] = set()
    for receiver in registered(app):
        if receiver.group != group:
            continue
        if not _is_pattern(receiver.pattern):
            topics.add(topic_for(receiver.pattern, app))
            continue
        topics.update(topic_for(t, app) for t in known_types if receiver.matches(t))
        domain = receiver.pattern.split(".", 1)[0]
        if not receiver.batch and not _is_pattern(domain):
            # Event types nobody declared yet still land on their domain's topic.
            topics.add(TOPIC_PREFIX + domain)
    return topics


def max_attempts(app=None) -> int:
    return int((app or current_app).config.get("QRP_EVENTS_MAX_ATTEMPTS") or
               DEFAULT_MAX_ATTEMPTS)


def deliver(event: Event, group: str) -> bool:
    """Run ``group``'s receivers for ``event`` once. False when it was already processed,
    or when it has now failed ``QRP_EVENTS_MAX_ATTEMPTS`` times and is parked."""
    receivers = receivers_for(event.type, group)
    if not receivers:
        return False
    scope = tenant_scope(event.workspace_id) if event.workspace_id else unscoped()
    try:
        # The processed mark first: a second consumer of the group waits here, then finds
        # the event done; a receiver's own integrity errors below stay failures.
        db.session.add(ProcessedEvent(group=group, event_id=event.id))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    try:
        with scope:
            for receiver in receivers:
                receiver.func(event)
            db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if _record_failure(event, group, exc):
            return False
        raise
    return True


def _record_failure(event: Event, group: str, exc: Exception) -> bool:
    """Count a failed attempt; park the event once it has failed too often. True if parked."""
    now = datetime.now(UTC)
    with unscoped():
        failure = db.session.get(EventFailure, (group, event.id)) or EventFailure(
            group=group, event_id=event.id, event_type=event.type, payload=event.to_json(),
            attempts=0)
        failure.attempts += 1
        failure.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        failure.last_failed_at = now
        parked = failure.attempts >= max_attempts()
        if parked:
            failure.parked_at = now
            db.session.add(ProcessedEvent(group=group, event_id=event.id))
        db.session.add(failure)
        db.session.commit()
    if parked:
        log.error("consumer group %s gave up on %s %s after %d attempts (%s); it is parked: "
                  "`flask events failures` lists it, `flask events replay` runs it again",
                  group, event.type, event.id, failure.attempts, failure.last_error)
    return parked


def replay(group: str, event_id: str) -> bool:
    """Run a parked (or failing) event through its group's receivers again."""
    with unscoped():
        failure = db.session.get(EventFailure, (group, event_id))
        if failure is None:
            raise LookupError(f"no failed event {event_id} in group {group!r}")
        event = Event.from_json(failure.payload)
        db.session.execute(delete(ProcessedEvent).where(ProcessedEvent.group == group,
                                                        ProcessedEvent.event_id == event_id))
        db.session.delete(failure)
        db.session.commit()
    return deliver(event, group)


def deliver_batch(events: Iterable[Event], group: str | None = None) -> int:
    """Hand stream events to batch receivers, one call per receiver and event type."""
    by_type: dict[str, list[Event]] = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)
    count = 0
    for event_type, batch in by_type.items():
        for receiver in receivers_for(event_type, group, batch=True):
            with unscoped():
                receiver.func(batch)
            count += len(batch)
    return count
