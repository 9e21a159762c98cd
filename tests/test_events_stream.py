"""The high-volume stream path (scans, page views): emit_stream() costs no database transaction
and no broker round trip; the buffer goes to Kafka, or to a durable spool (Redis stream or a
local file) while Kafka is down, and the relay drains the spool. Nothing is lost when the broker
is away or when the process gets SIGTERM."""

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from unittest.mock import Mock

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from qrplatform import events
from qrplatform.events import kafka as kafka_events
from qrplatform.events.dispatch import register
from qrplatform.events.envelope import Event, pack, unpack
from qrplatform.events.kafka import run_consumer
from qrplatform.events.outbox import EventBacklogCollector, backlog
from qrplatform.events.stream import FileSpool, RedisSpool, drain_spool, spool_of
from qrplatform.registry import registry
from qrplatform.testing.kafka import portable_config, read_records, read_topic
from qrplatform.testing.waiting import wait_until
from tests.observability.helpers import scrape, value

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def route_stream(app, domain: str) -> tuple[str, str]:
    """Declare ``<domain>.scanned`` a stream type, as a plugin's ``streams`` would."""
    event_type, topic = f"{domain}.scanned", f"qrp.{domain}-scans"
    registry(app).stream_topics[event_type] = topic
    return event_type, topic


@pytest.fixture
def keep_sigterm_handler():
    """Apps with a background flush make SIGTERM exit cleanly; give pytest its handler back."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_emit_returns_at_once_and_the_flush_sends_to_kafka(db, make_kafka_app, kafka_broker,
                                                           event_domain):
    app = make_kafka_app()
    event_type, topic = route_stream(app, event_domain)
    buffer = app.extensions["qrp.stream"]
    with app.app_context():
        emitted = [events.emit_stream(event_type, {"qr_id": n}, workspace_id=n % 3 + 1)
                   for n in range(50)]
        assert backlog() == 0  # no outbox row, no transaction
    assert len(buffer) == 50

    assert buffer.flush() == 50
    assert len(buffer) == 0
    on_kafka = read_topic(kafka_broker, topic)
    assert sorted(e.id for e in on_kafka) == sorted(e.id for e in emitted)
    assert len(spool_of(app)) == 0


def test_a_flush_packs_each_workspaces_events_into_few_records_that_consumers_unpack(
        db, make_kafka_app, kafka_broker, event_domain, monkeypatch):
    """One record per workspace and flush (keyed by it: one partition, in order), split where
    it would outgrow PACKED_RECORD_BYTES; a consumer's batch receiver gets every event once."""
    monkeypatch.setattr(kafka_events, "PACKED_RECORD_BYTES", 2000)
    app = make_kafka_app()
    event_type, topic = route_stream(app, event_domain)
    batches = []
    register(app, "packed_stats", event_type, batches.append, batch=True)
    with app.app_context():
        emitted = [events.emit_stream(event_type, {"n": n}, workspace_id=1 if n < 40 else 2)
                   for n in range(45)]
    app.extensions["qrp.stream"].flush()

    records = read_records(kafka_broker, topic)
    by_key: dict[bytes, list[Event]] = {}
    for record in records:
        assert len(record.value) <= 2000 + 2
        packed = unpack(record.value)
        assert dict(record.headers)["event-count"] == str(len(packed)).encode()
        assert {e.workspace_id for e in packed} == {int(record.key)}
        by_key.setdefault(record.key, []).extend(packed)
    assert 2 < len(records) < 45  # split by size, far fewer than one record each
    assert [e.id for e in by_key[b"1"]] == [e.id for e in emitted[:40]]  # in order
    assert [e.id for e in by_key[b"2"]] == [e.id for e in emitted[40:]]
    stats = run_consumer(app, "packed_stats", once=True)
    assert stats.batched == 45 and stats.unreadable == 0
    assert sorted(e.id for batch in batches for e in batch) == sorted(e.id for e in emitted)


def test_a_record_holds_one_envelope_or_an_array_of_them_and_nothing_else():
    one, two = Event("x.scanned", {"n": 1}, 1), Event("x.scanned", {"n": 2}, 1)
    assert unpack(one.to_json()) == [one]
    assert unpack(pack([one.to_json(), two.to_json()])) == [one, two]
    for broken in (b"[1, 2]", b'"text"', b"[{}]", b"not json"):
        with pytest.raises((TypeError, ValueError)):
            unpack(broken)


def test_the_background_thread_flushes_without_being_asked(db, make_kafka_app, kafka_broker,
                                                           event_domain, keep_sigterm_handler):
    app = make_kafka_app(QRP_STREAM_BACKGROUND=True, QRP_STREAM_FLUSH_INTERVAL=0.05)
    event_type, topic = route_stream(app, event_domain)
    with app.app_context():
        emitted = {events.emit_stream(event_type, {"n": n}, workspace_id=1).id for n in range(5)}

    wait_until(lambda: {e.id for e in read_topic(kafka_broker, topic)} == emitted, 10,
               "the background flush to reach Kafka", interval=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("spool_kind", ["redis", "file"])
def test_while_kafka_is_down_stream_events_wait_in_the_spool(
        db, make_kafka_app, own_kafka_broker, event_domain, redis, redis_url, spool_kind,
        monkeypatch):
    config = {"REDIS_URL": redis_url} if spool_kind == "redis" else {}
    app = make_kafka_app(broker=own_kafka_broker, **config)
    event_type, topic = route_stream(app, event_domain)
    batches = []
    register(app, "scan_stats", event_type, batches.append, batch=True)
    buffer, spool = app.extensions["qrp.stream"], spool_of(app)
    assert isinstance(spool, RedisSpool if spool_kind == "redis" else FileSpool)

    clients = buffer.sink.kafka().clients
    produce = Mock(wraps=clients.produce)  # counts the calls; the real producer still sends
    monkeypatch.setattr(clients, "produce", produce)

    own_kafka_broker.stop()
    with app.app_context():
        emitted = [events.emit_stream(event_type, {"n": n}, workspace_id=1) for n in range(1000)]
    # The request path never talks to the broker: the events wait in the buffer.
    assert (len(buffer), len(spool), produce.call_count) == (1000, 0, 0)
    buffer.flush()  # the broker does not answer: after the send timeout, into the spool
    assert (len(buffer), len(spool), produce.call_count) == (0, 1000, 1)

    with app.app_context():
        emitted += [events.emit_stream(event_type, {"n": n}, workspace_id=2) for n in range(10)]
    buffer.flush()  # known down: straight to the spool, no second wait on the dead broker
    assert (len(spool), produce.call_count) == (1010, 1)
    with app.app_context():
        registry = CollectorRegistry()
        registry.register(EventBacklogCollector())
        assert "qrp_events_stream_spool_backlog 1010.0" in generate_latest(registry).decode()
        assert drain_spool() == 0  # still down: nothing leaves the spool
    assert len(spool) == 1010

    own_kafka_broker.start()
    with app.app_context():  # the CLI runs in the current app context (db's app otherwise)
        result = app.test_cli_runner().invoke(args=["events", "relay", "--once"])
    assert result.exit_code == 0, result.output
    assert "1010 spooled stream events" in result.output
    assert len(spool) == 0

    on_kafka = read_topic(own_kafka_broker, topic)
    assert len(on_kafka) == 1010
    assert {e.id for e in on_kafka} == {e.id for e in emitted}
    stats = run_consumer(app, "scan_stats", once=True)
    assert stats.batched == 1010
    assert sorted(e.id for batch in batches for e in batch) == sorted(
        e.id for e in emitted)


WEB_PROCESS = textwrap.dedent("""
    import json, sys, time

    from qrplatform import create_app
    from qrplatform.events import emit_stream
    from qrplatform.registry import registry

    config, event_type, topic = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = create_app(config)
    registry(app).stream_topics[event_type] = topic
    with app.app_context():
        ids = [emit_stream(event_type, {"n": n}, workspace_id=1).id for n in range(200)]
    print(json.dumps(ids), flush=True)
    time.sleep(60)  # a web worker serving requests until the platform stops it
""")


@pytest.mark.parametrize("broker_up", [True, False], ids=["broker up", "broker down"])
def test_sigterm_flushes_the_buffer_so_nothing_is_lost(
        db, make_kafka_app, own_kafka_broker, event_domain, redis, redis_url, broker_up):
    app = make_kafka_app(broker=own_kafka_broker, REDIS_URL=redis_url,
                         QRP_STREAM_BACKGROUND=True, QRP_STREAM_FLUSH_INTERVAL=600)
    event_type, topic = route_stream(app, event_domain)
    if not broker_up:
        own_kafka_broker.stop()

    web = subprocess.Popen([sys.executable, "-c", WEB_PROCESS, portable_config(app), event_type,
                            topic], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        emitted = json.loads(web.stdout.readline() or "null")
        assert emitted, web.stderr.read()[-2000:]
        # The flush interval is ten minutes: only the shutdown flush can save these events.
        web.send_signal(signal.SIGTERM)
        assert web.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        web.kill()
        web.wait()
    spooled = len(spool_of(app))
    if not broker_up:
        assert spooled == 200
        own_kafka_broker.start()

    drained = []
    with app.app_context():
        # As the relay does, pass after pass: the first may find the broker still starting.
        wait_until(lambda: drained.append(drain_spool()) or not len(spool_of(app)), 20,
                   message="the spool to drain")
    assert sum(drained) == spooled
    on_kafka = read_topic(own_kafka_broker, topic)
    assert len(on_kafka) == 200
    assert {e.id for e in on_kafka} == set(emitted)


def test_the_stream_receiver_tries_a_refused_batch_again_and_then_gives_up(app, monkeypatch):
    """The receiver process (no broker, gunicorn) keeps a batch the database refused and tries
    again, as a worker's flush keeps it buffered; at shutdown it gives up sooner (the master
    waits for it). tests/live/test_stream_receiver.py runs the process itself."""
    from qrplatform.events import receiver as receiver_module
    from qrplatform.events.envelope import make_event

    refusals, delivered = [2], []

    def flaky(batch):
        if refusals[0]:
            refusals[0] -= 1
            raise ConnectionError("the database is restarting")
        delivered.extend(event.id for event in batch)

    register(app, "flaky_stats", "flaky.scanned", flaky, batch=True)
    pauses = []
    monkeypatch.setattr(receiver_module.time, "sleep", pauses.append)
    receiver = receiver_module.StreamReceiver(app, flush_size=5000)
    scans = [make_event("flaky.scanned", {"n": n}, workspace_id=1) for n in range(3)]

    assert receiver.store(scans) is True
    assert delivered == [event.id for event in scans]
    assert pauses == list(receiver_module.RETRY_PAUSES[:2])

    def given_up():
        return value(scrape(app.test_client()), receiver_module.RECEIVER_METRIC.name,
                     outcome="given_up")

    before = given_up()
    refusals[0], pauses[:] = 100, []
    assert receiver.store(scans, stopping=True) is False
    assert len(pauses) == receiver_module.STOPPING_ATTEMPTS - 1
    assert delivered == [event.id for event in scans]
    assert given_up() - before == len(scans)  # in /metrics


def test_the_stream_receiver_stores_what_is_queued_together_up_to_a_flush(app):
    """Queued batches go into one store up to a worker's largest flush (``flush_size``); the
    batch that would go past it starts the next store; the master's stop ends the gathering."""
    from qrplatform.events import receiver as receiver_module
    from qrplatform.events.envelope import make_event

    receiver = receiver_module.StreamReceiver(app, flush_size=5)
    batches = [[make_event("merge.scanned", {"n": f"{b}.{n}"}, workspace_id=1).to_json()
                for n in range(size)] for b, size in enumerate((2, 2, 3, 1))]
    for batch in batches[1:]:
        receiver.queue.put(batch)
    receiver.queue.put(receiver_module._STOP)
    time.sleep(0.5)  # the queue's feeder thread writes to its pipe

    def numbers(events):
        return [event.data["n"] for event in events]

    events, carried, stopping = receiver._gather(batches[0])
    assert numbers(events) == ["0.0", "0.1", "1.0", "1.1"] and not stopping
    assert carried == batches[2]  # 4 + 3 would be past 5
    events, carried, stopping = receiver._gather(carried)
    assert numbers(events) == ["2.0", "2.1", "2.2", "3.0"] and carried is None and stopping


def test_the_stream_receiver_waits_a_moment_for_the_next_batches(app, monkeypatch):
    """A store takes the batches that arrive within GATHER_SECONDS of its first (a few
    flushes under load, not one), and goes ahead with what it has when no more come."""
    from qrplatform.events import receiver as receiver_module
    from qrplatform.events.envelope import make_event

    receiver = receiver_module.StreamReceiver(app, flush_size=4)
    first, later, alone = ([make_event("merge.scanned", {"n": f"{b}.{n}"},
                                       workspace_id=1).to_json() for n in range(2)]
                           for b in range(3))
    monkeypatch.setattr(receiver_module, "GATHER_SECONDS", 30.0)
    threading.Timer(0.2, receiver.queue.put, (later,)).start()
    events, carried, stopping = receiver._gather(first)   # returns once 4 (full) are there
    assert [event.data["n"] for event in events] == ["0.0", "0.1", "1.0", "1.1"]
    assert carried is None and not stopping

    monkeypatch.setattr(receiver_module, "GATHER_SECONDS", 0.2)
    events, carried, stopping = receiver._gather(alone)
    assert [event.data["n"] for event in events] == ["2.0", "2.1"]
    assert carried is None and not stopping
