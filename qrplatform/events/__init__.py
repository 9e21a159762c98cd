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

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g, has_request_context

from qrplatform.registry import registry
from qrplatform.tenancy import current_workspace_id

SCHEMA_VERSION = 1
TOPIC_PREFIX = "qrp."


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]
    workspace_id: int | None = None
    actor: dict[str, Any] | None = None
    request_id: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    schema_version: int = SCHEMA_VERSION

    @property
    def domain(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def key(self) -> bytes:
        """Kafka key: one workspace's events stay in order on one partition."""
        return str(self.workspace_id or 0).encode()

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        payload = json.loads(raw)
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in payload.items() if k in known})


def topic_for(event_type: str, app: Flask | None = None) -> str:
    """``qr.created`` → ``qrp.qr``, unless a plugin routes the type to a stream topic.

    ``app`` is for callers without an app context (the stream flush thread).
    """
    app = app or (current_app._get_current_object() if current_app else None)
    streams = registry(app).stream_topics if app is not None else {}
    return streams.get(event_type) or TOPIC_PREFIX + event_type.split(".", 1)[0]


def current_actor() -> dict[str, Any]:
    """Who is acting: the signed-in user (and the API token they used), else the system."""
    if has_request_context():
        user = g.get("user")
        if user is not None:
            actor: dict[str, Any] = {"type": "user", "id": user.id}
            if g.get("api_token") is not None:
                actor["token_id"] = g.api_token.id
            return actor
        return {"type": "anonymous"}
    return {"type": "system"}


def make_event(event_type: str, data: dict[str, Any], *, workspace_id: int | None = None,
               actor: dict[str, Any] | None = None) -> Event:
    return Event(
        type=event_type,
        data=data,
        workspace_id=workspace_id if workspace_id is not None else current_workspace_id(),
        actor=actor or current_actor(),
        request_id=g.get("request_id") if has_request_context() else None,
    )


def publish(event_type: str, data: dict[str, Any], *, workspace_id: int | None = None,
            actor: dict[str, Any] | None = None) -> Event:
    """Record an event in the current transaction; it leaves only if the transaction commits."""
    from qrplatform.events.outbox import add_to_outbox

    event = make_event(event_type, data, workspace_id=workspace_id, actor=actor)
    add_to_outbox(event)
    return event


def emit_stream(event_type: str, data: dict[str, Any], *, workspace_id: int | None,
                actor: dict[str, Any] | None = None) -> Event:
    """Send a high-volume event without touching the database (buffered, durable fallback)."""
    from qrplatform.events.stream import stream_buffer

    event = make_event(event_type, data, workspace_id=workspace_id, actor=actor)
    stream_buffer().append(event)
    return event
