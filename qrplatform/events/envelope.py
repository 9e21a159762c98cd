"""The event envelope, the topic an event type goes to, and who is acting: the leaf of the
events package (its other modules import from here, never from the package)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask, current_app, g, has_request_context

from qrplatform.registry import registry
from qrplatform.tenancy import current_workspace_id

SCHEMA_VERSION = 1
TOPIC_PREFIX = "qrp."


def new_event_id() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` makes it, at a third of the
    cost: every scan gets one."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]
    workspace_id: int | None = None
    actor: dict[str, Any] | None = None
    request_id: str | None = None
    id: str = field(default_factory=new_event_id)
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
        # Field by field rather than dataclasses.asdict, which deep-copies ``data`` first: that
        # copy was a third of the cost of sending a scan to Kafka.
        return orjson.dumps({
            "type": self.type, "data": self.data, "workspace_id": self.workspace_id,
            "actor": self.actor, "request_id": self.request_id, "id": self.id,
            "occurred_at": self.occurred_at, "schema_version": self.schema_version,
        }, default=str, option=_AS_THE_STANDARD_LIBRARY).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        return cls.from_payload(orjson.loads(raw))

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        """From a decoded envelope; fields a later schema adds are left out."""
        if not isinstance(payload, dict):
            raise TypeError(f"an event envelope is a JSON object, not {type(payload).__name__}")
        return cls(**{k: v for k, v in payload.items() if k in _FIELDS})


_FIELDS = frozenset(Event.__dataclass_fields__)
# What ``json.dumps(..., default=str)`` wrote before: dates and dataclasses in data as their
# str(), keys that are not text (an id) as text.
_AS_THE_STANDARD_LIBRARY = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                            | orjson.OPT_NON_STR_KEYS)


def pack(envelopes: list[str]) -> bytes:
    """Several events (their ``to_json()``) as one Kafka record, a JSON array: the stream
    producer sends a record per workspace and flush instead of one per scan, which cost the
    web process more than the scan itself."""
    return ("[" + ",".join(envelopes) + "]").encode()


def unpack(raw: str | bytes) -> list[Event]:
    """A record's events: one envelope (domain events), or an array of them (``pack``)."""
    payload = orjson.loads(raw)
    if isinstance(payload, list):
        return [Event.from_payload(item) for item in payload]
    return [Event.from_payload(payload)]


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
