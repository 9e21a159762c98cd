"""The event pipeline under a failing broker: outages leak no threads and no connections
(one admin client per process, closed on every path, reused by /readyz)."""

import logging
import threading
import time

import psutil

from qrplatform.events.dispatch import register
from qrplatform.events.outbox import backlog, drain
from qrplatform.testing.waiting import wait_until
from tests.test_events_kafka import BackgroundConsumer, signup

OUTAGES = 3


def broker_connections(port: int) -> int:
    return sum(1 for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.port == port)


def kafka_threads() -> int:
    return sum(1 for t in threading.enumerate() if "kafka" in t.name.lower())


def settled(count, expected: int, timeout: float = 10) -> int:
    """The count once it drops to ``expected`` (closing is asynchronous), else its last value."""
    deadline = time.monotonic() + timeout
    while (value := count()) > expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def test_broker_outages_leak_no_threads_and_no_connections(db, make_kafka_app, own_kafka_broker):
    broker = own_kafka_broker
    app = make_kafka_app(broker=broker)
    client = app.test_client()
    signup(client, "first@example.com")
    with app.app_context():
        assert drain() == 2
    assert client.get("/readyz").status_code == 200
    threads, connections = threading.active_count(), broker_connections(broker.port)
    kafka = kafka_threads()
    assert connections >= 1

    for outage in range(OUTAGES):
        with broker.down():
            signup(client, f"during-{outage}@example.com")
            with app.app_context():
                assert drain() == 0
            for _ in range(3):
                assert client.get("/readyz").status_code == 503
        with app.app_context():
            wait_until(lambda: drain() or backlog() == 0, 20, message="the outbox to drain")
        assert client.get("/readyz").status_code == 200

    assert settled(kafka_threads, kafka) == kafka
    assert settled(threading.active_count, threads) == threads
    assert settled(lambda: broker_connections(broker.port), connections) == connections


def test_a_consumer_rides_out_a_broker_outage(db, make_kafka_app, durable_kafka_broker,
                                               monkeypatch, caplog):
    """While the broker is away the consumer says so and keeps polling; once it is back, what
    was published meanwhile is delivered. kafka-python 3 sometimes raises from poll() in an
    outage (when it looks the group coordinator up again), sometimes retries inside: the
    outage here makes every poll raise, as the worse case."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaConnectionError

    broker = durable_kafka_broker
    app = make_kafka_app(broker=broker)
    seen: list = []
    register(app, "welcome_probe", "user.signed_up", seen.append)
    client = app.test_client()
    signup(client, "before@example.com")
    with app.app_context():
        assert drain() == 2
    away = threading.Event()
    real_poll = KafkaConsumer.poll

    def poll(consumer, *args, **kwargs):
        if away.is_set():
            raise KafkaConnectionError("111 ECONNREFUSED")
        return real_poll(consumer, *args, **kwargs)

    monkeypatch.setattr(KafkaConsumer, "poll", poll)
    consumer = BackgroundConsumer(app, "welcome_probe")
    try:
        wait_until(lambda: len(seen) == 1, 20, message="the first signup")
        with caplog.at_level(logging.INFO, logger="qrplatform.events.kafka"), broker.down():
            away.set()
            time.sleep(3)  # polls with no broker
            assert consumer.thread.is_alive(), f"the consumer died: {consumer.error!r}"
            away.clear()
        signup(client, "after@example.com")
        with app.app_context():
            wait_until(lambda: drain() or backlog() == 0, 20, message="the outbox to drain")
        wait_until(lambda: len(seen) == 2, 30, message="the signup after the outage")
    finally:
        consumer.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "qrplatform.events.kafka"]
    assert len([m for m in said if "cannot reach the broker" in m]) == 1, said  # once, not per poll
    assert any("reached the broker again" in m for m in said), said


class SlowBroker:
    """Back-pressure on the real relay sender: each call, the broker takes only ``accepts``
    of the events (the first ones, sent for real) and the rest are reported unacknowledged,
    as kafka-python reports a batch a slow broker timed out on."""

    def __init__(self, sender, accepts: int):
        self.sender, self.accepts, self.batches = sender, accepts, []

    def send(self, items):
        from qrplatform.events.kafka import KafkaDeliveryError

        self.batches.append(len(items))
        taken, left = items[:self.accepts], items[self.accepts:]
        self.sender.send(taken)
        if left:
            raise KafkaDeliveryError(f"the broker did not acknowledge {len(left)} of "
                                     f"{len(items)} events", unsent=left)

    def __getattr__(self, name):
        return getattr(self.sender, name)


def test_the_spool_drain_resends_only_the_unacknowledged_and_shrinks_its_batch(
        db, make_kafka_app, own_kafka_broker, event_domain):
    from prometheus_client import generate_latest

    from qrplatform import events
    from qrplatform.events.stream import drain_spool, spool_of
    from qrplatform.testing.kafka import read_topic
    from tests.test_events_stream import route_stream

    app = make_kafka_app(broker=own_kafka_broker)
    event_type, topic = route_stream(app, event_domain)
    buffer, spool = app.extensions["qrp.stream"], spool_of(app)
    with own_kafka_broker.down():
        with app.app_context():
            emitted = [events.emit_stream(event_type, {"n": n}, workspace_id=1)
                       for n in range(300)]
        buffer.flush()
    assert len(spool) == 300

    relay = app.extensions["qrp.events"]
    slow = SlowBroker(relay.sender, accepts=40)
    relay._sender = slow
    try:
        with app.app_context():
            assert drain_spool(batch_size=100) == 300
    finally:
        relay._sender = slow.sender
    assert len(spool) == 0
    on_kafka = [e.id for e in read_topic(own_kafka_broker, topic)]
    assert sorted(on_kafka) == sorted(e.id for e in emitted)  # each once: nothing resent
    assert slow.batches[0] == 100 and min(slow.batches) <= 40  # the batch shrank
    assert sum(slow.batches) < 300 * 2
    exposition = generate_latest(app.extensions["qrp.metrics"].registry).decode()
    assert "qrp_events_stream_spool_drained_total 300.0" in exposition
