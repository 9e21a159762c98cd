"""Domain events through a real Kafka-protocol broker (Tansu): the outbox relayed to Kafka,
consumer groups that run each event id once — across a broker restart and a consumer killed
before its offset commit — and a request that never fails because the broker is down."""

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from qrplatform import events
from qrplatform.events.dispatch import register
from qrplatform.events.kafka import run_consumer
from qrplatform.events.models import OutboxEvent
from qrplatform.events.outbox import backlog, drain
from qrplatform.registry import registry
from qrplatform.testing.kafka import KAFKA_TEST_CONFIG, portable_config, read_topic
from qrplatform.testing.waiting import wait_until

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def signup(client, email: str):
    response = client.post("/api/v1/auth/signup",
                           json={"email": email, "password": "long enough pw", "name": "Ann"})
    assert response.status_code == 201, response.json
    return response.json


def test_committed_events_are_consumed_once_and_rolled_back_ones_never(
        db, make_kafka_app, kafka_broker, event_domain):
    app = make_kafka_app()
    received = []
    register(app, "ledger_probe", f"{event_domain}.*", received.append)
    with app.app_context():
        committed = [events.publish(f"{event_domain}.created", {"n": n}, workspace_id=n % 2 + 1)
                     for n in range(4)]
        db.session.commit()
        rolled_back = events.publish(f"{event_domain}.created", {"n": 99}, workspace_id=1)
        db.session.rollback()

        assert drain() == 4
        stats = run_consumer(app, "ledger_probe", once=True)

    assert sorted(e.id for e in received) == sorted(e.id for e in committed)
    assert rolled_back.id not in {e.id for e in received}
    assert (stats.delivered, stats.duplicates) == (4, 0)
    on_the_topic = read_topic(kafka_broker, f"qrp.{event_domain}")
    assert sorted(e.id for e in on_the_topic) == sorted(e.id for e in committed)
    assert on_the_topic[0].type == f"{event_domain}.created"

    with app.app_context():  # a second pass of the group finds its offsets committed
        result = app.test_cli_runner().invoke(
            args=["events", "consume", "ledger_probe", "--once"])
    assert result.exit_code == 0, result.output
    assert "ledger_probe: 0 delivered, 0 duplicates skipped" in result.output
    assert len(received) == 4


def test_a_signup_event_travels_from_the_request_to_a_consumer_group(db, make_kafka_app):
    app = make_kafka_app()
    welcomed = []
    register(app, "welcome_probe", "user.signed_up", welcomed.append)
    body = signup(app.test_client(), "kafka-ann@example.com")

    with app.app_context():
        assert drain() == 2
        run_consumer(app, "welcome_probe", once=True)

    # qrp.user is shared with other tests' signups; this user's event arrived exactly once.
    mine = [e for e in welcomed if e.data["user_id"] == body["user"]["id"]]
    assert len(mine) == 1
    assert mine[0].actor == {"type": "user", "id": body["user"]["id"]}


class BackgroundConsumer:
    """``run_consumer`` in a thread, as ``flask events consume`` runs in its own process."""

    def __init__(self, app, group: str):
        self.stop_event = threading.Event()
        self.stats = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(app, group))
        self.thread.start()

    def _run(self, app, group):
        try:
            self.stats = run_consumer(app, group, stop=self.stop_event)
        except BaseException as exc:  # a consumer process would have died of it
            self.error = exc

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the consumer did not stop"
        assert self.error is None, f"the consumer died: {self.error!r}"
        return self.stats


@pytest.mark.slow
def test_a_broker_restart_mid_stream_neither_loses_nor_repeats_an_event(
        db, make_kafka_app, durable_kafka_broker):
    """The broker dies right after the consumer ran a batch, before it committed the offsets;
    the consumer is restarted during the outage and a user signs up meanwhile. Once the broker
    is back, every event has run exactly once."""
    broker = durable_kafka_broker
    app = make_kafka_app(broker=broker)
    client = app.test_client()
    seen: list = []
    outage_requested, broker_stopped = threading.Event(), threading.Event()

    def receive(event):
        seen.append(event)
        if outage_requested.is_set() and not broker_stopped.is_set():
            broker.stop()  # mid-batch: this batch's offsets cannot be committed
            broker_stopped.set()

    register(app, "welcome_probe", "user.signed_up", receive)
    register(app, "welcome_probe", "workspace.created", receive)

    signup(client, "first@example.com")
    with app.app_context():
        assert drain() == 2
    consumer = BackgroundConsumer(app, "welcome_probe")
    try:
        wait_until(lambda: len(seen) == 2, 20, message="the first signup's events")
        outage_requested.set()
        signup(client, "second@example.com")
        with app.app_context():
            assert drain() == 2
        wait_until(broker_stopped.is_set, 20, message="the receiver to stop the broker")
    finally:
        consumer.stop()

    # During the outage a user's request still succeeds; its events wait in the outbox.
    started = time.monotonic()
    third = signup(client, "third@example.com")
    # Waiting on the broker at all would take its whole timeout.
    assert time.monotonic() - started < KAFKA_TEST_CONFIG["QRP_KAFKA_TIMEOUT_MS"] / 1000
    with app.app_context():
        assert drain() == 0
        assert backlog() == 2
        row = db.session.query(OutboxEvent).filter(OutboxEvent.published_at.is_(None)).first()
        assert row.attempts == 1 and row.last_error
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "KAFKA_BOOTSTRAP_SERVERS" in ready.json["message"]
    assert ready.json["checks"]["outbox"]["backlog"] == 2

    broker.start()
    consumer = BackgroundConsumer(app, "welcome_probe")
    try:
        with app.app_context():
            wait_until(lambda: drain() or backlog() == 0, 20, message="the outbox to drain")
        wait_until(lambda: len({e.id for e in seen}) == 6, 20, message="all six events")
        time.sleep(0.5)  # a repeat after the last new one would show up as a seventh call
    finally:
        stats = consumer.stop()

    ids = [e.id for e in seen]
    assert len(ids) == len(set(ids)) == 6, "an event ran twice"
    with app.app_context():
        assert {row.id for row in db.session.query(OutboxEvent)} == set(ids)
    assert any(e.data.get("user_id") == third["user"]["id"] for e in seen)
    # The interrupted batch was uncommitted, so Kafka handed it over again: skipped by event id.
    assert stats.duplicates >= 1
    with app.app_context():  # and from then on the offsets were committed
        again = run_consumer(app, "welcome_probe", once=True)
    assert (again.delivered, again.duplicates) == (0, 0)
    assert client.get("/readyz").status_code == 200


KILLED_CONSUMER = textwrap.dedent("""
    import json, os, signal, sys

    from kafka import KafkaConsumer
    from redis import Redis

    from qrplatform import create_app
    from qrplatform.events.dispatch import register
    from qrplatform.events.kafka import run_consumer

    config, domain, redis_url = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = create_app(config)
    runs = Redis.from_url(redis_url)
    register(app, "crash_probe", domain + ".*", lambda event: runs.hincrby("runs", event.id, 1))

    def killed_before_commit(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    KafkaConsumer.commit = killed_before_commit
    run_consumer(app, "crash_probe", once=True)
""")


@pytest.mark.slow
def test_a_consumer_killed_before_its_commit_does_not_repeat_work(
        db, make_kafka_app, event_domain, redis, redis_url):
    app = make_kafka_app()
    register(app, "crash_probe", f"{event_domain}.*",
             lambda event: redis.hincrby("runs", event.id, 1))
    with app.app_context():
        published = [events.publish(f"{event_domain}.created", {"n": n}, workspace_id=1)
                     for n in range(5)]
        db.session.commit()
        assert drain() == 5

    child = subprocess.run([sys.executable, "-c", KILLED_CONSUMER, portable_config(app),
                            event_domain, redis_url],
                           cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert child.returncode == -9, child.stderr[-2000:]
    ran_before_kill = {key.decode(): int(v) for key, v in redis.hgetall("runs").items()}
    assert ran_before_kill, "the killed consumer ran no receiver"
    assert set(ran_before_kill.values()) == {1}

    with app.app_context():
        stats = run_consumer(app, "crash_probe", once=True)

    runs = {key.decode(): int(v) for key, v in redis.hgetall("runs").items()}
    assert runs == {event.id: 1 for event in published}
    # Nothing was committed, so Kafka handed every record over again: the ones the killed
    # consumer had finished were skipped by event id, the rest ran now.
    assert stats.duplicates == len(ran_before_kill)
    assert stats.delivered == 5 - len(ran_before_kill)


def test_a_failing_receiver_is_retried_without_committing_past_it(
        db, make_kafka_app, event_domain):
    app = make_kafka_app()
    done, failures = [], []

    def flaky(event):
        if event.data["n"] == 1 and not failures:
            failures.append(event.id)
            raise ConnectionError("the mail server is away")
        done.append(event.data["n"])

    register(app, "mail_probe", f"{event_domain}.*", flaky)
    with app.app_context():
        for n in range(3):
            events.publish(f"{event_domain}.created", {"n": n}, workspace_id=1)
        db.session.commit()
        drain()
        stats = run_consumer(app, "mail_probe", once=True)

    assert stats.failures == 1
    assert sorted(done) == [0, 1, 2]
    assert stats.delivered == 3 and stats.duplicates == 0


def test_a_poll_goes_to_a_batch_receiver_whole_and_a_failed_batch_is_retried_uncommitted(
        db, make_kafka_app, event_domain):
    app = make_kafka_app()
    event_type = f"{event_domain}.scanned"
    registry(app).stream_topics[event_type] = f"qrp.{event_domain}-scans"
    batches, failures = [], []

    def store(batch):
        if not failures:
            failures.append(len(batch))
            raise ConnectionError("the database is away")
        batches.append(batch)

    register(app, "scan_probe", event_type, store, batch=True)
    with app.app_context():
        # Six workspaces: their events land on every partition of the topic.
        emitted = [events.emit_stream(event_type, {"n": n}, workspace_id=n % 6 + 1)
                   for n in range(60)]
    assert app.extensions["qrp.stream"].flush() == 60

    with app.app_context():
        stats = run_consumer(app, "scan_probe", once=True)

    assert stats.failures == 1
    # Retried from the first record of every partition: nothing lost, nothing committed past.
    assert sorted(e.id for batch in batches for e in batch) == sorted(e.id for e in emitted)
    assert stats.batched == 60
    # The partitions of one poll make one call, not one call each.
    assert len(batches) < 3 and failures == [60]
    with app.app_context():  # and the offsets of the retried poll were committed
        again = run_consumer(app, "scan_probe", once=True)
    assert again.batched == 0


def test_records_fetched_while_a_batch_fails_are_fetched_again(
        db, make_kafka_app, event_domain):
    """The consumer fetches the next poll while the receivers work on one; when that one
    fails, the records fetched meanwhile must come again, whatever partition they are on."""
    app = make_kafka_app()
    event_type = f"{event_domain}.scanned"
    registry(app).stream_topics[event_type] = f"qrp.{event_domain}-scans"
    sink = app.extensions["qrp.stream"].sink
    with app.app_context():
        first_wave = [events.make_event(event_type, {"n": n}, workspace_id=1) for n in range(10)]
        # Six workspaces: some of these land on partitions the first wave is not on.
        second_wave = [events.make_event(event_type, {"n": n}, workspace_id=n % 6 + 2)
                       for n in range(30)]
    received: list = []
    failed = threading.Event()

    def store(batch):
        if not failed.is_set():
            sink.write(second_wave)
            time.sleep(2)  # long enough for the consumer to poll the second wave meanwhile
            failed.set()
            raise ConnectionError("the database is away")
        received.extend(batch)

    register(app, "scan_probe", event_type, store, batch=True)
    sink.write(first_wave)
    consumer = BackgroundConsumer(app, "scan_probe")
    try:
        wait_until(lambda: len({e.id for e in received}) == 40, 20, message="both waves")
    finally:
        stats = consumer.stop()

    assert {e.id for e in received} == {e.id for e in first_wave + second_wave}
    assert stats.failures == 1
    with app.app_context():  # every partition's offsets were committed in the end
        again = run_consumer(app, "scan_probe", once=True)
    assert again.batched == 0


def test_readyz_names_the_unreachable_broker_and_relay_keeps_the_events(db, make_kafka_app,
                                                                         own_kafka_broker):
    app = make_kafka_app(broker=own_kafka_broker)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    with own_kafka_broker.down():
        signup(client, "during-outage@example.com")
        with app.app_context():
            assert drain() == 0
            assert backlog() == 2
        body = client.get("/readyz")
        assert body.status_code == 503
        assert body.json["checks"]["kafka"]["status"] == "unreachable"
        assert body.json["checks"]["outbox"]["backlog"] == 2

    with app.app_context():
        wait_until(lambda: drain() or backlog() == 0, 20, message="the outbox to drain")
    assert len(read_topic(own_kafka_broker, "qrp.user")) == 1
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("pattern, expected", [
    ("qr.created", {"qrp.qr"}),
    ("qr.*", {"qrp.qr", "qrp.scans"}),
])
def test_a_group_subscribes_to_the_topics_its_receivers_need(make_app, pattern, expected):
    from qrplatform.events.dispatch import topics_for_group

    app = make_app()
    registry(app).stream_topics["qr.scanned"] = "qrp.scans"
    register(app, "routing", pattern, print)
    assert topics_for_group("routing", app) == expected
