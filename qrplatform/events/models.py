"""The core's event tables: the outbox, and the ids each consumer group has processed."""

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime


class OutboxEvent(db.Model):
    """An event waiting for the relay; written in the transaction of the change it describes."""

    __tablename__ = "event_outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_event_outbox_pending", "published_at", "created_at"),)


class ProcessedEvent(db.Model):
    """Event ids a consumer group has handled: a redelivered event is skipped."""

    __tablename__ = "event_processed"

    group: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                   server_default=func.now())


class EventFailure(db.Model):
    """A consumer group's receivers failing on one event. After QRP_EVENTS_MAX_ATTEMPTS the
    event is parked (a dead letter): marked processed so that the events behind it flow
    again, and kept here with its error until someone replays it (`flask events replay`)."""

    __tablename__ = "event_failures"

    group: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                      server_default=func.now())
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    parked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
