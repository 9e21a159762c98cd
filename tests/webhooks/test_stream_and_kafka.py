"""Scans reach webhooks in batches (one request per window, each scan once), and both kinds of
events travel through the real Kafka-protocol broker to the two webhooks consumer groups."""

from __future__ import annotations

import pytest

from qrplatform.events import outbox
from qrplatform.events.dispatch import deliver_batch
from qrplatform.events.kafka import run_consumer
from qrplatform.tenancy import unscoped
from qrplatform.testing.kafka import close_event_backends

from .conftest import QUICK_RETRIES, make_code, register, run_delayed

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def scan(web, code: dict, ip: str) -> None:
    response = web.get(f"/r/{code['short_code']}", headers={"User-Agent": IPHONE},
                       environ_base={"REMOTE_ADDR": ip})
    assert response.status_code in (301, 302, 307, 308), response.status_code


@pytest.fixture
def stream(app):
    """The app's stream buffer, emptied first; ``flush()`` hands scans to the receivers."""
    buffer = app.extensions["qrp.stream"]
    buffer.discard()
    return buffer


@pytest.fixture
def scans_hooked(app, owner, webhook_receiver, local_hooks, monkeypatch):
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_BATCH_WINDOW", 0.3)
    endpoint = register(owner, webhook_receiver.url, events=["qr.scanned"])
    webhook_receiver.secret = endpoint["secret"]
    return endpoint


def test_scans_arrive_in_one_batch_per_window_each_once(
        app, client, owner, scans_hooked, webhook_receiver, stream, runner):
    code = make_code(owner, "Menu")
    for n in range(5):
        scan(client, code, ip=f"198.51.100.{n}")
    scanned = stream.pending()
    assert stream.flush() == 5
    assert webhook_receiver.received == [], "the window is still open"

    with app.app_context(), unscoped():
        deliver_batch(scanned)  # the stream is at least once: the same scans come again
    run_delayed(runner)

    [received] = webhook_receiver.received
    assert received.error is None
    body = received.payload
    assert body["type"] == "qr.scanned" and body["data"]["count"] == 5
    assert sorted(e["id"] for e in body["data"]["events"]) == sorted(e.id for e in scanned)
    assert {e["data"]["code_id"] for e in body["data"]["events"]} == {code["id"]}
    [logged] = owner.get(f"/api/v1/webhooks/{scans_hooked['id']}/deliveries").json["items"]
    assert (logged["event_count"], logged["state"], logged["event_type"]) == (
        5, "delivered", "qr.scanned")

    # The next scans open the next window.
    scan(client, code, ip="198.51.100.77")
    stream.flush()
    run_delayed(runner)
    assert [r.payload["data"]["count"] for r in webhook_receiver.received] == [5, 1]


def test_a_full_window_is_sent_at_once_in_batches_of_the_maximum(
        app, client, owner, scans_hooked, webhook_receiver, stream, runner, monkeypatch):
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_BATCH_WINDOW", 3600)
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_BATCH_MAX", 2)
    code = make_code(owner)
    for n in range(5):
        scan(client, code, ip=f"198.51.100.{n}")
    stream.flush()
    assert sorted(r.payload["data"]["count"] for r in webhook_receiver.received) == [1, 2, 2]


def test_scans_of_a_workspace_without_endpoints_cost_no_request(
        api, client, scans_hooked, webhook_receiver, stream, runner):
    other = api()
    code = make_code(other)
    scan(client, code, ip="198.51.100.1")
    stream.flush()
    run_delayed(runner)
    assert webhook_receiver.received == []


def test_events_and_scans_through_the_kafka_broker(
        make_kafka_app, own_kafka_broker, owner, webhook_receiver, local_hooks, db):
    kafka_app = make_kafka_app(
        broker=own_kafka_broker, QRP_NETGUARD_ALLOW_NETWORKS=["127.0.0.0/8"],
        QRP_WEBHOOK_RETRY_SCHEDULE=QUICK_RETRIES, QRP_WEBHOOK_BATCH_WINDOW=0.2)
    events_hook = register(owner, webhook_receiver.url, events=["qr.created"])
    scans_hook = register(owner, webhook_receiver.url, events=["qr.scanned"])
    assert events_hook["secret"] != scans_hook["secret"]
    webhook_receiver.secret = events_hook["secret"]
    webhook_receiver.fail_next(1)
    code = make_code(owner, "Through Kafka")
    web = kafka_app.test_client()
    for n in range(3):
        scan(web, code, ip=f"198.51.100.{n}")
    kafka_runner = kafka_app.extensions["qrp.jobs.runner"]
    try:
        with kafka_app.app_context():
            assert outbox.drain() >= 1                      # outbox → qrp.qr on the broker
            assert kafka_app.extensions["qrp.stream"].flush() == 3   # scans → qrp.scans
            stats = run_consumer(kafka_app, "webhooks", once=True)
            assert stats.delivered >= 1
            run_delayed(kafka_runner)                       # the retry of the failed attempt
        tries = webhook_receiver.received
        assert [(r.payload["type"], r.answered) for r in tries] == [
            ("qr.created", 500), ("qr.created", 200)]
        assert webhook_receiver.acknowledged == [tries[0].message_id]
        assert tries[0].payload["data"]["name"] == "Through Kafka"

        webhook_receiver.secret = scans_hook["secret"]
        with kafka_app.app_context():
            stats = run_consumer(kafka_app, "webhooks_stream", once=True)
            assert stats.batched == 3
            run_delayed(kafka_runner)                       # the window closes
        batch = webhook_receiver.received[-1].payload
        assert (batch["type"], batch["data"]["count"]) == ("qr.scanned", 3)
    finally:
        kafka_runner.delayed.clear()
        close_event_backends(kafka_app)
