"""Domain events: one envelope, published with the change that caused it.

Every event has the same JSON envelope::

    {"id": "…uuid…", "type": "qr.created", "schema_version": 1,
     "occurred_at": "2026-11-28T09:00:00.123456+00:00", "workspace_id": 7,
     "actor": {"type": "user", "id": 3}, "request_id": "…", "data": {…}}

``publish()`` adds the event to the outbox table in the caller's transaction: it is sent if and
only if the change commits. The relay (``flask events relay``) moves outbox rows to Kafka, keyed
by workspace, one topic per domain (``qrp.<first part of the type>``); consumer groups
(``flask events consume GROUP``) hand them to the receivers plugins declared. Without
KAFKA_BOOTSTRAP_SERVERS the relay hands them to the receivers in-process, so the embedded setup
behaves the same.

High-volume events (scans, page views) skip the database: ``emit_stream()`` hands them to a
buffered producer (see ``qrplatform.events.stream``).

The event types each plugin publishes are declared in ``Plugin.events`` and listed by
``flask events types``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from qrplatform.events.envelope import (
    SCHEMA_VERSION,
    TOPIC_PREFIX,
    Event,
    current_actor,
    make_event,
    topic_for,
)

__all__ = ["BATCH", "SCHEMA_VERSION", "TOPIC_PREFIX", "Event", "current_actor", "emit_stream",
           "in_batch", "make_event", "publish", "publish_many", "topic_for"]

# One change made to many things at once (a bulk upload, an action on 300 selected codes) is
# published as one event per thing, each with ``data[BATCH]`` set to the batch's id, plus one
# event for the whole batch (with ``batch_id``, the same id). Logs meant for people (the audit
# log) record the batch's event and leave its items out; machines (webhooks, analytics) still
# get every item.
BATCH = "batch"


def in_batch(event: Event) -> bool:
    """Whether the event is one item of a batch that has an event of its own."""
    return bool((event.data or {}).get(BATCH))


def publish(event_type: str, data: dict[str, Any], *, workspace_id: int | None = None,
            actor: dict[str, Any] | None = None) -> Event:
    """Record an event in the current transaction; it leaves only if the transaction commits."""
    from qrplatform.events.outbox import add_to_outbox

    event = make_event(event_type, data, workspace_id=workspace_id, actor=actor)
    add_to_outbox([event])
    return event


def publish_many(event_type: str, items: list[dict[str, Any]], *,
                 actor: dict[str, Any] | None = None) -> list[Event]:
    """``publish`` for many things at once, in the workspace in scope: one event per item,
    written together (see ``bulkinsert``)."""
    from qrplatform.events.outbox import add_to_outbox

    events = [make_event(event_type, data, actor=actor) for data in items]
    add_to_outbox(events)
    return events


def emit_stream(event_type: str, data: dict[str, Any], *, workspace_id: int | None,
                actor: dict[str, Any] | None = None, app: Flask | None = None) -> Event:
    """Send a high-volume event without touching the database (buffered, durable fallback).

    ``app``: for callers outside an app context (the scan redirect answers before Flask), which
    then pass the workspace and the actor too.
    """
    from qrplatform.events.stream import stream_buffer

    event = make_event(event_type, data, workspace_id=workspace_id, actor=actor)
    stream_buffer(app).append(event)
    return event
