"""Kafka (kafka-python) behind the event bus: the relay's sender, the stream sink, consumers.

- ``KafkaSender`` sends outbox rows (and spooled stream events): acks from all in-sync
  replicas, the idempotent producer (the broker dedupes the producer's own retries; Tansu and
  Kafka >= 0.11 support it, and we ask for it explicitly so an older broker fails loudly instead
  of silently losing the guarantee), keyed by workspace so one workspace's events stay in order.
  ``send()`` raises unless the broker acknowledged every event, so the outbox keeps what was not
  taken.
- ``KafkaStreamSink`` is the buffered producer of the stream path: whatever the broker does not
  acknowledge within ``QRP_STREAM_SEND_TIMEOUT_MS`` goes to the durable spool, and for
  ``QRP_STREAM_RETRY_AFTER`` seconds after a failure batches go straight to the spool rather
  than waiting on a dead broker again.
- ``run_consumer(app, group)`` runs one plugin's receivers as the consumer group
  ``<QRP_KAFKA_GROUP_PREFIX><plugin name>``, committing a record's offset only after its
  receivers succeeded; a redelivered event id is skipped by ``dispatch.deliver``.

Topics are created on first use with the admin client (``QRP_KAFKA_PARTITIONS`` partitions,
``QRP_KAFKA_REPLICATION_FACTOR`` replicas, -1 meaning the broker's default).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import zip_longest

from flask import Flask
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, for_code
from kafka.structs import OffsetAndMetadata, TopicPartition

from qrplatform.events import Event, topic_for

log = logging.getLogger(__name__)

DEFAULTS = {
    # How long the relay (and /readyz) waits on the broker before calling it down.
    "QRP_KAFKA_TIMEOUT_MS": 5000,
    "QRP_KAFKA_PARTITIONS": 6,
    "QRP_KAFKA_REPLICATION_FACTOR": -1,
    "QRP_KAFKA_GROUP_PREFIX": "qrp.",
    # Tansu holds a group's first join for half of this; Kafka uses its own initial delay.
    "QRP_KAFKA_SESSION_TIMEOUT_MS": 10000,
    # `flask events consume --once` gives up after this many seconds.
    "QRP_KAFKA_ONCE_TIMEOUT": 60.0,
    "QRP_STREAM_SEND_TIMEOUT_MS": 2000,
    "QRP_STREAM_RETRY_AFTER": 5.0,
}
TOPIC_ALREADY_EXISTS = 36


def setting(config, name: str):
    value = config.get(name)
    return DEFAULTS[name] if value is None else value


def client_options(config, timeout_ms: int | None = None) -> dict:
    timeout_ms = timeout_ms or int(setting(config, "QRP_KAFKA_TIMEOUT_MS"))
    return {
        "bootstrap_servers": [s.strip() for s in config["KAFKA_BOOTSTRAP_SERVERS"].split(",")],
        "bootstrap_timeout_ms": timeout_ms,
        # The default backoff grows to 30 s; a broker back from an outage is found within 1 s.
        "reconnect_backoff_max_ms": 1000,
    }


def describe(error: BaseException | None) -> str:
    """kafka-python's errors already name their class; others get it added."""
    if error is None or isinstance(error, KafkaError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _headers(event: Event) -> list[tuple[str, bytes]]:
    return [("event-type", event.type.encode()), ("event-id", event.id.encode())]


class KafkaDeliveryError(KafkaError):
    """The broker did not acknowledge every event of a batch."""


class KafkaClients:
    """A producer and an admin client, made on first use and remade after any failure.

    Remaking them is the simple, reliable recovery from an outage: fresh connections, fresh
    metadata, and a new producer id (a restarted broker may have forgotten the old one).
    """

    def __init__(self, config, *, client_id: str, linger_ms: int = 0,
                 timeout_ms: int | None = None):
        self.config = config
        self.client_id = client_id
        self.linger_ms = linger_ms
        self.timeout_ms = timeout_ms or int(setting(config, "QRP_KAFKA_TIMEOUT_MS"))
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._topics_ready: set[str] = set()

    def producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(
                    **client_options(self.config, self.timeout_ms),
                    client_id=self.client_id,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=self.linger_ms,
                    max_block_ms=self.timeout_ms,
                    request_timeout_ms=self.timeout_ms,
                    delivery_timeout_ms=self.timeout_ms + self.linger_ms,
                )
            return self._producer

    def admin(self) -> KafkaAdminClient:
        with self._lock:
            if self._admin is None:
                self._admin = KafkaAdminClient(**client_options(self.config, self.timeout_ms),
                                               client_id=self.client_id + "-admin",
                                               request_timeout_ms=self.timeout_ms)
            return self._admin

    def ensure_topics(self, topics: set[str]) -> None:
        missing = topics - self._topics_ready
        if not missing:
            return
        create_topics(self.admin(), missing, self.config)
        self._topics_ready |= missing

    def produce(self, items: list[tuple[str, Event]], timeout_s: float
                ) -> tuple[list[tuple[str, Event]], Exception | None]:
        """Send and wait for the acks. Returns what the broker did not take, and why."""
        futures, error = [], None
        try:
            self.ensure_topics({topic for topic, _event in items})
            producer = self.producer()
            for topic, event in items:
                futures.append(producer.send(topic, key=event.key, value=event.to_json().encode(),
                                             headers=_headers(event)))
            producer.flush(timeout=timeout_s)
        except Exception as exc:
            error = exc
        unsent = []
        for item, future in zip_longest(items, futures):
            if future is None or not future.is_done or future.failed():
                unsent.append(item)
                if error is None and future is not None and future.is_done:
                    error = future.exception
        if unsent:
            self.reset()
        return unsent, error

    def check(self) -> None:
        try:
            self.admin().describe_cluster()
        except Exception:
            self.reset()
            raise

    def reset(self) -> None:
        with self._lock:
            producer, admin = self._producer, self._admin
            self._producer = self._admin = None
            self._topics_ready.clear()
        if producer is not None:
            # No waiting: what it still holds is reported unsent and kept by the caller.
            producer.close(timeout=0)
        if admin is not None:
            admin.close()

    def close(self, timeout_s: float = 5) -> None:
        with self._lock:
            producer, admin = self._producer, self._admin
            self._producer = self._admin = None
        if producer is not None:
            producer.close(timeout=timeout_s)
        if admin is not None:
            admin.close()


def create_topics(admin: KafkaAdminClient, topics: set[str], config) -> None:
    """Create the topics that do not exist yet; another process creating one first is fine."""
    options = {"num_partitions": int(setting(config, "QRP_KAFKA_PARTITIONS")),
               "replication_factor": int(setting(config, "QRP_KAFKA_REPLICATION_FACTOR"))}
    missing = set(topics) - set(admin.list_topics())
    if not missing:
        return
    response = admin.create_topics({topic: dict(options) for topic in missing},
                                   raise_errors=False)
    for result in response["topics"]:
        if result["error_code"] not in (0, TOPIC_ALREADY_EXISTS):
            raise for_code(result["error_code"])(
                f"cannot create topic {result['name']}: {result['error_message']}")


class KafkaSender:
    """The relay's way to Kafka: ``send()`` raises unless every event was acknowledged."""

    name = "kafka"

    def __init__(self, config):
        self.clients = KafkaClients(config, client_id="qrp-relay")
        # The producer gives up on a record after its delivery timeout; flush waits a bit more.
        self.flush_timeout_s = (self.clients.timeout_ms + 1000) / 1000

    def send(self, items: list[tuple[str, Event]]) -> None:
        if not items:
            return
        unsent, error = self.clients.produce(items, self.flush_timeout_s)
        if unsent:
            raise KafkaDeliveryError(
                f"the broker did not acknowledge {len(unsent)} of {len(items)} events: "
                f"{describe(error)}") from error

    def check(self) -> None:
        """For /readyz: raises when the broker cannot be reached within the timeout."""
        self.clients.check()

    def close(self) -> None:
        self.clients.close()


class KafkaStreamSink:
    """The stream path's producer: the broker or, failing that, the durable spool."""

    def __init__(self, app: Flask, spool):
        self.app = app
        self.spool = spool
        send_timeout_ms = int(setting(app.config, "QRP_STREAM_SEND_TIMEOUT_MS"))
        # The flush thread waits at most this long on a broker, connecting included.
        self.clients = KafkaClients(app.config, client_id="qrp-stream", linger_ms=20,
                                    timeout_ms=send_timeout_ms)
        self.send_timeout_s = send_timeout_ms / 1000
        self.retry_after_s = float(setting(app.config, "QRP_STREAM_RETRY_AFTER"))
        self._broker_retry_at = 0.0

    def write(self, events: list[Event]) -> None:
        items = [(topic_for(event.type, self.app), event) for event in events]
        unsent, error = items, None
        if time.monotonic() >= self._broker_retry_at:
            unsent, error = self.clients.produce(items, self.send_timeout_s)
        if unsent:
            if error is not None:
                log.warning("stream: the broker did not take %d events; spooled: %s",
                            len(unsent), describe(error))
                self._broker_retry_at = time.monotonic() + self.retry_after_s
            self.spool.put(unsent)

    def close(self) -> None:
        self.clients.close(timeout_s=self.send_timeout_s)
        self.spool.close()


# --- consumers -----------------------------------------------------------------------------


@dataclass
class ConsumeStats:
    """What a consumer did: handy for logs, and for tests to see redeliveries being skipped."""

    delivered: int = 0  # events whose receivers ran
    duplicates: int = 0  # redelivered events this group had already processed
    batched: int = 0  # stream events handed to batch receivers
    unreadable: int = 0  # records that are not an event envelope (logged, skipped)
    failures: int = 0  # receiver errors (the record is retried)


def group_id(config, group: str) -> str:
    return f"{setting(config, 'QRP_KAFKA_GROUP_PREFIX')}{group}"


@contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM finishes the current batch and leaves the group cleanly (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_consumer(app: Flask, group: str, *, once: bool = False,
                 stop: threading.Event | None = None) -> ConsumeStats:
    """Consume ``group``'s topics until SIGTERM or ``stop`` (or, with ``once``, until caught up).

    Each record's offset is committed only after its receivers succeeded. A receiver error
    leaves the record in place: the partition is rewound to it and retried after a pause.
    """
    from qrplatform.events.dispatch import topics_for_group
    from qrplatform.extensions import db

    stop = stop or threading.Event()
    with app.app_context():
        topics = topics_for_group(group, app)
        if not topics:
            raise ValueError(f"consumer group {group!r} has no receivers")
        timeout_ms = int(setting(app.config, "QRP_KAFKA_TIMEOUT_MS"))
        with KafkaAdminClient(**client_options(app.config), client_id=f"qrp-{group}-admin",
                              request_timeout_ms=timeout_ms) as admin:
            create_topics(admin, topics, app.config)
        session_timeout_ms = int(setting(app.config, "QRP_KAFKA_SESSION_TIMEOUT_MS"))
        consumer = KafkaConsumer(
            *sorted(topics),
            **client_options(app.config),
            client_id=f"qrp-{group}",
            group_id=group_id(app.config, group),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(100, session_timeout_ms // 5),
        )
        group_consumer = GroupConsumer(consumer, group, commit_timeout_ms=timeout_ms)
        deadline = time.monotonic() + float(setting(app.config, "QRP_KAFKA_ONCE_TIMEOUT"))
        log.info("consumer group %s reading %s", group_id(app.config, group), sorted(topics))
        try:
            with _stop_on_sigterm(stop):
                while not stop.is_set():
                    records = consumer.poll(timeout_ms=500)
                    if records:
                        if not group_consumer.handle(records):
                            stop.wait(1.0)  # a receiver failed: pause, then retry it
                    elif once and group_consumer.caught_up():
                        break
                    if once and time.monotonic() > deadline:
                        log.warning("consumer group %s: stopping after the --once timeout", group)
                        break
        finally:
            # Leaving the group hands its partitions on at once; a member that just vanishes
            # keeps them until its session times out (Tansu: until it is closed).
            consumer.close()
            db.session.remove()
    return group_consumer.stats


class GroupConsumer:
    """Hands polled records to ``group``'s receivers and commits what they finished."""

    def __init__(self, consumer: KafkaConsumer, group: str, *, commit_timeout_ms: int):
        self.consumer = consumer
        self.group = group
        self.commit_timeout_ms = commit_timeout_ms
        self.stats = ConsumeStats()

    def caught_up(self) -> bool:
        assignment = self.consumer.assignment()
        if not assignment:
            return False  # still joining the group
        try:
            ends = self.consumer.end_offsets(list(assignment))
            return all(self.consumer.position(tp) >= end for tp, end in ends.items())
        except KafkaError:
            return False  # the broker is away; keep polling until it is back or the deadline

    def handle(self, records: dict) -> bool:
        """Process one poll's records; commit what succeeded. False when a receiver failed."""
        commits: dict[TopicPartition, OffsetAndMetadata] = {}
        all_ok = True
        for tp, partition_records in records.items():
            done_until, failed_at = self._process_partition(tp, partition_records)
            if done_until is not None:
                commits[tp] = OffsetAndMetadata(done_until, "", -1)
            if failed_at is not None:
                self.consumer.seek(tp, failed_at)
                all_ok = False
        if commits:
            try:
                # Bounded: a commit waiting out an outage would stall the whole group.
                self.consumer.commit(commits, timeout_ms=self.commit_timeout_ms)
            except KafkaError as exc:
                # The records come again (after a rebalance or restart): skipped by event id.
                log.warning("consumer group %s: offset commit failed: %s", self.group, exc)
        return all_ok

    def _process_partition(self, tp: TopicPartition, records: list
                           ) -> tuple[int | None, int | None]:
        """Returns (offset to commit, offset to retry from); either may be None."""
        from qrplatform.events import dispatch

        group, stats = self.group, self.stats
        events: list[tuple[int, Event]] = []
        for record in records:
            try:
                events.append((record.offset, Event.from_json(record.value)))
            except (ValueError, TypeError):
                stats.unreadable += 1
                log.error("consumer group %s: %s[%d]@%d is not an event; skipped",
                          group, tp.topic, tp.partition, record.offset)
        first_offset = records[0].offset
        batch = [event for _offset, event in events
                 if dispatch.receivers_for(event.type, group, batch=True)]
        try:
            if batch:
                stats.batched += dispatch.deliver_batch(batch, group)
        except Exception:
            stats.failures += 1
            log.exception("consumer group %s: batch receiver failed at %s[%d]@%d; will retry",
                          group, tp.topic, tp.partition, first_offset)
            return None, first_offset
        for offset, event in events:
            if not dispatch.receivers_for(event.type, group):
                continue
            try:
                if dispatch.deliver(event, group):
                    stats.delivered += 1
                else:
                    stats.duplicates += 1
            except Exception:
                stats.failures += 1
                log.exception("consumer group %s: receiver failed on %s %s at %s[%d]@%d; "
                              "will retry", group, event.type, event.id, tp.topic,
                              tp.partition, offset)
                return (offset if offset > first_offset else None), offset
        return records[-1].offset + 1, None
