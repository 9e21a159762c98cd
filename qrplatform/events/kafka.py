"""Kafka (kafka-python) behind the event bus: the relay's sender, the stream sink, consumers.

- ``KafkaSender`` sends outbox rows (and spooled stream events): acks from all in-sync
  replicas, the idempotent producer (the broker dedupes the producer's own retries; Tansu and
  Kafka >= 0.11 support it, and we ask for it explicitly so an older broker fails loudly instead
  of silently losing the guarantee), keyed by workspace so one workspace's events stay in order.
  ``send()`` raises unless the broker acknowledged every event, so the outbox keeps what was not
  taken.
- ``KafkaStreamSink`` is the buffered producer of the stream path, each flush's events of one
  workspace packed into as few records as fit (``envelope.pack``; consumers read both kinds of
  record, ``envelope.unpack``): whatever the broker does not acknowledge within
  ``QRP_STREAM_SEND_TIMEOUT_MS`` goes to the durable spool, and for
  ``QRP_STREAM_RETRY_AFTER`` seconds after a failure batches go straight to the spool rather
  than waiting on a dead broker again.
- ``run_consumer(app, group)`` runs one plugin's receivers as the consumer group
  ``<QRP_KAFKA_GROUP_PREFIX><plugin name>``, committing a record's offset only after its
  receivers succeeded; a redelivered event id is skipped by ``dispatch.deliver``. A poll's
  stream events reach the batch receivers in one call, and the receivers run on a thread of
  their own while the consumer fetches and decodes the next poll. Groups that read only stream
  topics fetch in large batches (``QRP_STREAM_MAX_POLL_RECORDS`` and friends).

Topics are created on first use with the admin client (``QRP_KAFKA_PARTITIONS`` partitions,
``QRP_KAFKA_REPLICATION_FACTOR`` replicas, -1 meaning the broker's default).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import NamedTuple

from flask import Flask
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, for_code
from kafka.structs import OffsetAndMetadata, TopicPartition

from qrplatform.config import KAFKA_SECURITY_VARIABLES
from qrplatform.events.envelope import Event, pack, topic_for, unpack
from qrplatform.processes import stop_on_sigterm
from qrplatform.registry import registry

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
    # Consumer groups that read only stream topics (their events go to batch receivers):
    # - records one poll hands over at most. A poll that leaves fetched records buffered
    #   sends no new fetch, so a small cap stalls on a broker round trip every few hundred
    #   records; a large one takes whole fetch responses, and the next fetch is on its way
    #   while the receivers work. Other groups keep kafka-python's 500: their receivers run
    #   per event, and a poll must not outlast the group's max poll interval.
    "QRP_STREAM_MAX_POLL_RECORDS": 20000,
    # - how much one fetch returns per partition: a catching-up consumer's batch size.
    "QRP_STREAM_MAX_PARTITION_FETCH_BYTES": 8 * 1024 * 1024,
    # - how much the broker gathers, or how long it waits, before it answers a fetch: fewer,
    #   larger batches for the same events, at up to that much latency on a quiet topic.
    "QRP_STREAM_FETCH_MIN_BYTES": 1,
    "QRP_STREAM_FETCH_MAX_WAIT_MS": 500,
    "QRP_STREAM_SEND_TIMEOUT_MS": 2000,
    "QRP_STREAM_RETRY_AFTER": 5.0,
    # The stream producer's record batch per partition, at most. Each flush sends a few
    # thousand events; in batches of kafka-python's 16 KiB that cost the web process about
    # twice the CPU of 512 KiB ones. Kept under the 1 MiB record-batch limit of brokers'
    # defaults (Kafka's message.max.bytes, Redpanda's).
    "QRP_STREAM_BATCH_BYTES": 512 * 1024,
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
        # TLS and SASL for a managed broker, when configured.
        **{option: config[name] for name, option in KAFKA_SECURITY_VARIABLES.items()
           if config.get(name)},
    }


def describe(error: BaseException | None) -> str:
    """kafka-python's errors already name their class; others get it added."""
    if error is None or isinstance(error, KafkaError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _headers(event: Event) -> list[tuple[str, bytes]]:
    return [("event-type", event.type.encode()), ("event-id", event.id.encode())]


# A packed record's JSON stays under this, well within a record batch (QRP_STREAM_BATCH_BYTES)
# and the brokers' default 1 MiB message limit.
PACKED_RECORD_BYTES = 256 * 1024


class _Record(NamedTuple):
    """One Kafka record and the (topic, event) items it carries."""

    items: list[tuple[str, Event]]
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def _one_per_event(items: list[tuple[str, Event]]) -> list[_Record]:
    # The caller's own item objects: it tells what was not sent by identity (drain_spool).
    return [_Record([item], item[0], item[1].key, item[1].to_json().encode(),
                    _headers(item[1])) for item in items]


def _packed(items: list[tuple[str, Event]]) -> list[_Record]:
    """Each topic's events of one workspace (one key, so one partition and in order) in as
    few records as ``PACKED_RECORD_BYTES`` allows (``envelope.pack``)."""
    groups: dict[tuple[str, bytes], list[tuple[str, Event]]] = {}
    for item in items:
        groups.setdefault((item[0], item[1].key), []).append(item)
    records: list[_Record] = []

    def add(topic: str, key: bytes, members: list, envelopes: list[str]) -> None:
        records.append(_Record(members, topic, key, pack(envelopes),
                               [("event-count", str(len(members)).encode())]))

    for (topic, key), group in groups.items():
        members, envelopes, size = [], [], 0
        for item in group:
            envelope = item[1].to_json()
            if members and size + len(envelope) > PACKED_RECORD_BYTES:
                add(topic, key, members, envelopes)
                members, envelopes, size = [], [], 0
            members.append(item)
            envelopes.append(envelope)
            size += len(envelope) + 1
        add(topic, key, members, envelopes)
    return records


class KafkaDeliveryError(KafkaError):
    """The broker did not acknowledge every event of a batch; ``unsent`` holds those items
    (the others were acknowledged)."""

    def __init__(self, message: str, unsent: list | None = None):
        super().__init__(message)
        self.unsent = unsent or []


class _SharedAdmins:
    """One KafkaAdminClient per process and cluster, shared by every KafkaClients (the relay,
    the stream sink, /readyz) and closed when the last of them closes. The admin client
    reconnects by itself after an outage: remaking it on every retry leaked its I/O thread and
    its connection each time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._admins: dict[tuple, tuple[KafkaAdminClient, set[int]]] = {}

    @staticmethod
    def _key(config) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in client_options(config).items()))

    def acquire(self, config, user: object) -> KafkaAdminClient:
        key = self._key(config)
        with self._lock:
            if key not in self._admins:
                timeout_ms = int(setting(config, "QRP_KAFKA_TIMEOUT_MS"))
                admin = KafkaAdminClient(**client_options(config, timeout_ms),
                                         client_id=f"qrp-admin-{os.getpid()}",
                                         request_timeout_ms=timeout_ms)
                self._admins[key] = (admin, set())
            admin, users = self._admins[key]
            users.add(id(user))
            return admin

    def release(self, config, user: object) -> None:
        key = self._key(config)
        with self._lock:
            admin, users = self._admins.get(key, (None, set()))
            users.discard(id(user))
            if admin is None or users:
                return
            del self._admins[key]
        _close_quietly(admin, "admin client")

    def close_all(self) -> None:
        with self._lock:
            admins = [admin for admin, _users in self._admins.values()]
            self._admins.clear()
        for admin in admins:
            _close_quietly(admin, "admin client")


def _close_quietly(client, what: str, **kwargs) -> None:
    """Close a client whatever state the outage left it in: a close that raises must not keep
    the next one from running."""
    try:
        client.close(**kwargs)
    except Exception as exc:
        log.warning("kafka: closing the %s failed: %s", what, describe(exc))


shared_admins = _SharedAdmins()
atexit.register(shared_admins.close_all)


class KafkaClients:
    """A producer, remade after any failure, and the process's shared admin client.

    Remaking the producer is the simple, reliable recovery from an outage: fresh connections,
    fresh metadata, and a new producer id (a restarted broker may have forgotten the old one).
    """

    def __init__(self, config, *, client_id: str, linger_ms: int = 0,
                 batch_bytes: int | None = None, timeout_ms: int | None = None):
        self.config = config
        self.client_id = client_id
        self.linger_ms = linger_ms
        self.batch_bytes = batch_bytes
        self.timeout_ms = timeout_ms or int(setting(config, "QRP_KAFKA_TIMEOUT_MS"))
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._topics_ready: set[str] = set()

    def producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                batching = {"batch_size": self.batch_bytes} if self.batch_bytes else {}
                self._producer = KafkaProducer(
                    **client_options(self.config, self.timeout_ms),
                    **batching,
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
                self._admin = shared_admins.acquire(self.config, self)
            return self._admin

    def ensure_topics(self, topics: set[str]) -> None:
        missing = topics - self._topics_ready
        if not missing:
            return
        create_topics(self.admin(), missing, self.config)
        self._topics_ready |= missing

    def produce(self, items: list[tuple[str, Event]], timeout_s: float, *, packed: bool = False
                ) -> tuple[list[tuple[str, Event]], Exception | None]:
        """Send and wait for the acks. Returns what the broker did not take, and why.

        ``packed``: several events to a record (``_packed``; the stream path), else one each."""
        futures, error = [], None
        records = _packed(items) if packed else _one_per_event(items)
        try:
            self.ensure_topics({topic for topic, _event in items})
            producer = self.producer()
            for record in records:
                futures.append(producer.send(record.topic, key=record.key, value=record.value,
                                             headers=record.headers))
            producer.flush(timeout=timeout_s)
        except Exception as exc:
            error = exc
        unsent = []
        for record, future in zip_longest(records, futures):
            if future is None or not future.is_done or future.failed():
                unsent.extend(record.items)
                if error is None and future is not None and future.is_done:
                    error = future.exception
        if unsent:
            self.reset()
        return unsent, error

    def check(self) -> None:
        """For /readyz: the shared admin client asks the cluster (it reconnects by itself)."""
        self.admin().describe_cluster()

    def reset(self) -> None:
        """Drop the producer after a failure; the next send makes a fresh one."""
        with self._lock:
            producer, self._producer = self._producer, None
            self._topics_ready.clear()
        if producer is not None:
            # No waiting: what it still holds is reported unsent and kept by the caller.
            _close_quietly(producer, "producer", timeout=0)

    def close(self, timeout_s: float = 5) -> None:
        with self._lock:
            producer, admin = self._producer, self._admin
            self._producer = self._admin = None
        if producer is not None:
            _close_quietly(producer, "producer", timeout=timeout_s)
        if admin is not None:
            shared_admins.release(self.config, self)


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
                f"{describe(error)}", unsent=unsent) from error

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
        self.clients = KafkaClients(
            app.config, client_id="qrp-stream",
            linger_ms=20,
            batch_bytes=int(setting(app.config, "QRP_STREAM_BATCH_BYTES")),
            timeout_ms=send_timeout_ms)
        self.send_timeout_s = send_timeout_ms / 1000
        self.retry_after_s = float(setting(app.config, "QRP_STREAM_RETRY_AFTER"))
        self._broker_retry_at = 0.0

    def write(self, events: list[Event]) -> None:
        items = [(topic_for(event.type, self.app), event) for event in events]
        unsent, error = items, None
        if time.monotonic() >= self._broker_retry_at:
            unsent, error = self.clients.produce(items, self.send_timeout_s, packed=True)
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


def fetch_options(config, *, streams_only: bool) -> dict:
    """How much a consumer fetches and takes per poll (see DEFAULTS); {} for kafka-python's."""
    if not streams_only:
        return {}
    return {
        "max_poll_records": int(setting(config, "QRP_STREAM_MAX_POLL_RECORDS")),
        "max_partition_fetch_bytes": int(setting(config,
                                                 "QRP_STREAM_MAX_PARTITION_FETCH_BYTES")),
        "fetch_min_bytes": int(setting(config, "QRP_STREAM_FETCH_MIN_BYTES")),
        "fetch_max_wait_ms": int(setting(config, "QRP_STREAM_FETCH_MAX_WAIT_MS")),
    }


def run_consumer(app: Flask, group: str, *, once: bool = False,
                 stop: threading.Event | None = None) -> ConsumeStats:
    """Consume ``group``'s topics until SIGTERM or ``stop`` (or, with ``once``, until caught up).

    Each record's offset is committed only after its receivers succeeded. A receiver error
    leaves the record in place: the partition is rewound to it and retried after a pause (a
    batch receiver's error rewinds every partition of its poll). On the way out the poll the
    receivers are working on is finished and committed, then the consumer leaves the group.
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
        stream_topics = set(registry(app).stream_topics.values())
        consumer = KafkaConsumer(
            *sorted(topics),
            **client_options(app.config),
            **fetch_options(app.config, streams_only=topics <= stream_topics),
            client_id=f"qrp-{group}",
            group_id=group_id(app.config, group),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(100, session_timeout_ms // 5),
        )
        group_consumer = GroupConsumer(app, consumer, group, commit_timeout_ms=timeout_ms)
        deadline = time.monotonic() + float(setting(app.config, "QRP_KAFKA_ONCE_TIMEOUT"))
        log.info("consumer group %s reading %s", group_id(app.config, group), sorted(topics))
        broker_away_since: float | None = None
        try:
            with stop_on_sigterm(stop):
                while not stop.is_set():
                    try:
                        records = consumer.poll(timeout_ms=500)
                    except KafkaError as exc:
                        # kafka-python 3 raises from poll() while the broker is away; the
                        # consumer finds it again by itself on a later poll.
                        if broker_away_since is None:
                            broker_away_since = time.monotonic()
                            log.warning("consumer group %s cannot reach the broker (%s); "
                                        "trying again every second", group, exc)
                        records = {}
                    else:
                        if broker_away_since is not None:
                            log.info("consumer group %s reached the broker again after "
                                     "%.0f s", group, time.monotonic() - broker_away_since)
                            broker_away_since = None
                    settled = group_consumer.handle(records)
                    if broker_away_since is not None:
                        stop.wait(1.0)
                    # Asked while the receivers work: once they finish the last records, stop
                    # rather than idle through an empty poll first.
                    if settled and once and group_consumer.caught_up():
                        settled = group_consumer.settle()
                        if settled:
                            break
                    if not settled:
                        stop.wait(1.0)  # a receiver failed: pause, then retry it
                    if once and time.monotonic() > deadline:
                        log.warning("consumer group %s: stopping after the --once timeout", group)
                        break
        finally:
            try:
                group_consumer.close()  # the poll in the receivers' hands finishes first
            finally:
                # Leaving the group hands its partitions on at once; a member that just
                # vanishes keeps them until its session times out (Tansu: until it is closed).
                consumer.close()
                db.session.remove()
    return group_consumer.stats


@dataclass
class PollOutcome:
    """What the receivers made of one poll: offsets to commit, partitions to retry from."""

    commits: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)
    retry_from: dict[TopicPartition, int] = field(default_factory=dict)


class GroupConsumer:
    """Hands polled records to ``group``'s receivers and commits what they finished.

    The receivers run on a thread of their own, one poll at a time and in order, while the
    consumer's thread (the only one that touches the KafkaConsumer) fetches and decodes the
    next poll: unpacking and decoding records overlap with the receivers' database round
    trips instead of adding to them. A poll's offsets are committed, or its partitions
    rewound, only after its receivers are done with it.
    """

    def __init__(self, app: Flask, consumer: KafkaConsumer, group: str, *,
                 commit_timeout_ms: int):
        self.app = app
        self.consumer = consumer
        self.group = group
        self.commit_timeout_ms = commit_timeout_ms
        self.stats = ConsumeStats()
        self._receivers = ThreadPoolExecutor(max_workers=1,
                                             thread_name_prefix=f"qrp-{group}-receivers")
        self._in_flight: Future[PollOutcome] | None = None

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
        """Settle the poll the receivers have, then hand them ``records`` (may be empty).

        False when a receiver failed on the previous poll: its partitions were rewound to the
        failed records, and ``records`` (fetched meanwhile) were given back, not handed over.
        """
        decoded = self._decode(records)  # while the receivers are still busy
        if not self.settle(records):
            return False
        if records:
            self._in_flight = self._receivers.submit(self._deliver, records, decoded)
        return True

    def settle(self, fetched_meanwhile: dict | None = None) -> bool:
        """Wait for the receivers' poll; commit what succeeded, rewind what failed."""
        if self._in_flight is None:
            return True
        future, self._in_flight = self._in_flight, None
        outcome = future.result()
        if outcome.commits:
            try:
                # Bounded: a commit waiting out an outage would stall the whole group.
                self.consumer.commit(outcome.commits, timeout_ms=self.commit_timeout_ms)
            except KafkaError as exc:
                # The records come again (after a rebalance or restart): skipped by event id.
                log.warning("consumer group %s: offset commit failed: %s", self.group, exc)
        if not outcome.retry_from:
            return True
        # The later records first, then the failed ones: a partition in both restarts at
        # its failed record.
        rewind = {tp: partition_records[0].offset
                  for tp, partition_records in (fetched_meanwhile or {}).items()}
        rewind.update(outcome.retry_from)
        assigned = self.consumer.assignment()
        for tp, offset in rewind.items():
            if tp in assigned:  # a rebalance meanwhile hands the rest to the new owner
                self.consumer.seek(tp, offset)
        return False

    def close(self) -> None:
        """Finish and settle the poll the receivers have, then stop their thread."""
        try:
            self.settle()
        finally:
            self._receivers.shutdown(wait=True)

    def _decode(self, records: dict) -> dict[TopicPartition, list[tuple[int, Event]]]:
        decoded: dict[TopicPartition, list[tuple[int, Event]]] = {}
        for tp, partition_records in records.items():
            events = decoded[tp] = []
            for record in partition_records:
                try:
                    events.extend((record.offset, event) for event in unpack(record.value))
                except (ValueError, TypeError):
                    self.stats.unreadable += 1
                    log.error("consumer group %s: %s[%d]@%d is not an event; skipped",
                              self.group, tp.topic, tp.partition, record.offset)
        return decoded

    # -- on the receivers' thread --------------------------------------------------------------

    def _deliver(self, records: dict, decoded: dict) -> PollOutcome:
        """One poll: its stream events to the batch receivers in one call, whatever partitions
        they came from (a batch receiver's cost is mostly per call), then each partition's
        events to the per-event receivers in order. If the batch call fails nothing of the
        poll is committed and every partition is retried from its first record."""
        from qrplatform.events import dispatch
        from qrplatform.extensions import db

        with self.app.app_context():
            try:
                types = {event.type for events in decoded.values() for _offset, event in events}
                batch_types = {t for t in types
                               if dispatch.receivers_for(t, self.group, batch=True)}
                single_types = {t for t in types if dispatch.receivers_for(t, self.group)}
                batch = [event for events in decoded.values() for _offset, event in events
                         if event.type in batch_types]
                if batch and not self._deliver_batch(batch, records):
                    return PollOutcome(retry_from={tp: partition_records[0].offset
                                                   for tp, partition_records in records.items()})
                outcome = PollOutcome()
                for tp, partition_records in records.items():
                    done_until, failed_at = self._deliver_each(tp, partition_records,
                                                               decoded[tp], single_types)
                    if done_until is not None:
                        outcome.commits[tp] = OffsetAndMetadata(done_until, "", -1)
                    if failed_at is not None:
                        outcome.retry_from[tp] = failed_at
                return outcome
            finally:
                db.session.remove()

    def _deliver_batch(self, batch: list[Event], records: dict) -> bool:
        from qrplatform.events import dispatch

        try:
            self.stats.batched += dispatch.deliver_batch(batch, self.group)
        except Exception:
            self.stats.failures += 1
            where = ", ".join(f"{tp.topic}[{tp.partition}]@{partition_records[0].offset}"
                              for tp, partition_records in records.items())
            log.exception("consumer group %s: batch receiver failed on %d events from %s; "
                          "will retry", self.group, len(batch), where)
            return False
        return True

    def _deliver_each(self, tp: TopicPartition, records: list, events: list[tuple[int, Event]],
                      types: set[str]) -> tuple[int | None, int | None]:
        """Per-event receivers (for the event ``types`` that have some), in partition order.

        Returns (offset to commit, offset to retry from); either may be None.
        """
        from qrplatform.events import dispatch

        group, stats = self.group, self.stats
        first_offset = records[0].offset
        for offset, event in events:
            if event.type not in types:
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
