"""Domain events without a broker: the outbox written with the change, relayed in-process to
the receivers of each consumer group once per event id (what `make run` does).

The events here are of a made-up ``widget`` domain, so no built-in plugin's receivers react."""

import dataclasses
import json
import os
import random
import uuid

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select

from qrplatform import events
from qrplatform.auth.models import User, Workspace
from qrplatform.events import Event
from qrplatform.events.dispatch import deliver, register
from qrplatform.events.envelope import new_event_id
from qrplatform.events.models import EventFailure, OutboxEvent, ProcessedEvent
from qrplatform.events.outbox import EventBacklogCollector, backlog, drain


@pytest.fixture
def events_app(db, make_app):
    """An app of the test's own (its receivers must not leak into other tests), in context."""
    app = make_app()
    with app.app_context():
        yield app


def record_into(received: list):
    return lambda event: received.append(event)


def outbox_rows() -> list[OutboxEvent]:
    return list(db_session().scalars(select(OutboxEvent).order_by(OutboxEvent.created_at)))


def db_session():
    from qrplatform.extensions import db

    return db.session


def test_an_event_committed_with_its_change_reaches_every_group_once(events_app):
    stats, mail = [], []
    register(events_app, "stats_probe", "widget.*", record_into(stats))
    register(events_app, "mail_probe", "widget.created", record_into(mail))

    workspace = Workspace(name="Acme")
    db_session().add(workspace)
    db_session().flush()
    event = events.publish("widget.created", {"widget_id": 1}, workspace_id=workspace.id)
    assert stats == [] and mail == []  # nothing leaves before the commit
    db_session().commit()

    assert backlog() == 1
    assert drain() == 1
    assert backlog() == 0
    assert [e.id for e in stats] == [event.id]
    assert [e.id for e in mail] == [event.id]
    assert drain() == 0  # sent is sent: a second relay pass finds nothing
    assert len(stats) == 1


def test_a_rolled_back_change_publishes_nothing(events_app):
    received = []
    register(events_app, "stats_probe", "widget.*", record_into(received))

    db_session().add(Workspace(name="Never saved"))
    events.publish("widget.created", {"name": "Never saved"}, workspace_id=None)
    db_session().rollback()

    assert backlog() == 0
    assert drain() == 0
    assert received == []
    assert db_session().scalar(select(func.count()).select_from(Workspace)) == 0


def test_signup_publishes_its_events_in_its_own_transaction(events_app):
    received = []
    register(events_app, "welcome_probe", "*", record_into(received))
    client = events_app.test_client()

    response = client.post("/api/v1/auth/signup", json={"email": "ann@example.com",
                                                        "password": "long enough pw",
                                                        "name": "Ann"})
    assert response.status_code == 201, response.json
    assert {row.type for row in outbox_rows()} == {"user.signed_up", "workspace.created"}

    assert drain() == 2
    signed_up = next(e for e in received if e.type == "user.signed_up")
    user = db_session().get(User, signed_up.data["user_id"])
    assert user is not None and user.email == "ann@example.com"
    assert signed_up.actor == {"type": "user", "id": user.id}
    assert signed_up.workspace_id == user.personal_workspace_id


def test_the_envelope_is_json_with_every_field(events_app):
    event = events.make_event("qr.updated", {"qr_id": 7, "changed": ["name"]}, workspace_id=3,
                              actor={"type": "user", "id": 9})
    payload = json.loads(event.to_json())

    assert set(payload) == {"id", "type", "schema_version", "occurred_at", "workspace_id",
                            "actor", "request_id", "data"} == {
                                field.name for field in dataclasses.fields(Event)}
    assert payload["type"] == "qr.updated" and payload["schema_version"] == 1
    assert payload["data"] == {"qr_id": 7, "changed": ["name"]}
    assert uuid.UUID(payload["id"])
    assert payload["occurred_at"].endswith("+00:00")
    assert Event.from_json(event.to_json()) == event
    assert event.key == b"3"  # one workspace, one partition: its events stay in order
    assert events.topic_for("qr.updated") == "qrp.qr"


def test_dates_decimals_and_number_keys_are_written_as_before(events_app):
    """orjson writes the envelope; what json.dumps(default=str) made of a date, a decimal, a
    number as a key, accents and quotes is still what a receiver (or an older one) reads."""
    from datetime import UTC, datetime
    from decimal import Decimal

    data = {"when": datetime(2026, 12, 4, 13, 5, tzinfo=UTC), "price": Decimal("6.50"),
            7: "a number as a key", "name": "Café \"Ünïcode\" ☕"}
    event = events.make_event("qr.updated", data, workspace_id=3)
    expected = json.loads(json.dumps(data, default=str))

    assert json.loads(event.to_json())["data"] == expected == {
        "when": "2026-12-04 13:05:00+00:00", "price": "6.50", "7": "a number as a key",
        "name": "Café \"Ünïcode\" ☕"}


def test_event_ids_are_version_4_uuids_unique_in_a_process_and_across_its_forks():
    ids = [new_event_id() for _ in range(20000)]
    # A library that seeds Python's shared generator (a fuzzer does) must not repeat ids: a
    # repeated id is an outbox row refused, or an event skipped as already processed.
    random.seed(0)
    ids.append(new_event_id())
    random.seed(0)
    ids.append(new_event_id())
    assert len(set(ids)) == len(ids)
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
    # A gunicorn worker is a fork of the master: it must not repeat the master's ids.
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write_end, new_event_id().encode())
        os._exit(0)
    os.close(write_end)
    in_parent = new_event_id()
    os.waitpid(child, 0)
    in_child = os.read(read_end, 64).decode()
    os.close(read_end)
    assert uuid.UUID(in_child).version == 4 and in_child != in_parent


def test_a_redelivered_event_id_runs_the_receivers_once(events_app):
    received = []
    register(events_app, "stats_probe", "widget.*", record_into(received))
    event = events.make_event("widget.created", {"widget_id": 1}, workspace_id=None)

    assert deliver(event, "stats_probe") is True
    assert deliver(event, "stats_probe") is False
    assert deliver(Event.from_json(event.to_json()), "stats_probe") is False
    assert received == [event]
    assert db_session().get(ProcessedEvent, ("stats_probe", event.id)) is not None


def test_a_failing_receiver_keeps_the_event_in_the_outbox_until_it_succeeds(events_app):
    delivered, attempts = [], []

    def flaky(event):
        attempts.append(event.id)
        if len(attempts) == 1:
            raise ConnectionError("the mail server is away")
        delivered.append(event.id)

    steady = []
    register(events_app, "stats_probe", "widget.*", record_into(steady))
    register(events_app, "mail_probe", "widget.*", flaky)
    event = events.publish("widget.created", {"widget_id": 1}, workspace_id=None)
    db_session().commit()

    assert drain() == 0
    [row] = outbox_rows()
    assert row.published_at is None and row.attempts == 1
    assert "the mail server is away" in row.last_error
    assert backlog() == 1

    assert drain() == 1
    assert delivered == [event.id]
    assert [e.id for e in steady] == [event.id]  # the group that had it already is not re-run
    assert backlog() == 0


def test_an_event_failing_every_time_is_parked_and_the_rest_flow_on(events_app):
    events_app.config["QRP_EVENTS_MAX_ATTEMPTS"] = 3
    broken = {"on": True}
    delivered = []

    def picky(event):
        if broken["on"] and event.data["widget_id"] == 1:
            raise ValueError("cannot handle widget 1")
        delivered.append(event.data["widget_id"])

    register(events_app, "picky_probe", "widget.*", picky)
    poison = events.publish("widget.created", {"widget_id": 1}, workspace_id=None)
    db_session().commit()
    events.publish("widget.created", {"widget_id": 2}, workspace_id=None)
    db_session().commit()

    assert [drain(), drain()] == [0, 0]  # attempts 1 and 2: everything waits behind it
    assert delivered == []
    assert drain() == 2  # attempt 3 parks it; the event behind it is delivered
    assert delivered == [2]
    failure = db_session().get(EventFailure, ("picky_probe", poison.id))
    assert failure.attempts == 3 and failure.parked_at is not None
    assert failure.last_error == "ValueError: cannot handle widget 1"
    assert events_app.test_client().get("/readyz").json["checks"]["outbox"]["parked"] == 1
    listed = events_app.test_cli_runner().invoke(args=["events", "failures"])
    assert poison.id in listed.output and "parked" in listed.output

    broken["on"] = False  # the bug is fixed: replay the dead letter
    replayed = events_app.test_cli_runner().invoke(
        args=["events", "replay", "picky_probe", poison.id])
    assert replayed.exit_code == 0 and "delivered" in replayed.output
    assert delivered == [2, 1]
    assert db_session().get(EventFailure, ("picky_probe", poison.id)) is None
    assert deliver(Event.from_json(poison.to_json()), "picky_probe") is False  # once only


def test_a_receivers_own_integrity_error_is_a_failure_not_a_duplicate(events_app):
    from sqlalchemy.exc import IntegrityError

    def clashing(event):
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key in the plugin's table"))

    register(events_app, "clash_probe", "widget.*", clashing)
    events.publish("widget.created", {"widget_id": 1}, workspace_id=None)
    db_session().commit()
    assert drain() == 0
    [row] = outbox_rows()
    assert row.published_at is None and "duplicate key" in row.last_error


def test_readyz_and_metrics_show_the_outbox_backlog(events_app):
    for n in range(3):
        events.publish("widget.created", {"widget_id": n}, workspace_id=None)
    db_session().commit()

    body = events_app.test_client().get("/readyz").json
    assert body["checks"]["outbox"]["backlog"] == 3

    registry = CollectorRegistry()
    registry.register(EventBacklogCollector())
    scraped = generate_latest(registry).decode()
    assert "qrp_events_outbox_backlog 3.0" in scraped
    assert "qrp_events_stream_spool_backlog 0.0" in scraped

    drain()
    assert "qrp_events_outbox_backlog 0.0" in generate_latest(registry).decode()


def test_relay_and_types_commands(events_app):
    received = []
    register(events_app, "stats_probe", "widget.*", record_into(received))
    events.publish("widget.created", {"widget_id": 1}, workspace_id=None)
    db_session().commit()
    runner = events_app.test_cli_runner()

    result = runner.invoke(args=["events", "relay", "--once"])
    assert result.exit_code == 0, result.output
    assert "relayed 1 events" in result.output
    assert len(received) == 1

    types = runner.invoke(args=["events", "types"]).output
    assert "user.signed_up" in types and "workspace.created" in types


def test_stream_events_reach_batch_receivers_in_process_without_a_transaction(events_app):
    batches = []
    register(events_app, "stats_probe", "widget.viewed", batches.append, batch=True)

    for n in range(3):
        events.emit_stream("widget.viewed", {"widget_id": n}, workspace_id=None)
    assert backlog() == 0  # no outbox row: the redirect path writes nothing to the database
    assert batches == []

    assert events_app.extensions["qrp.stream"].flush() == 3
    assert [[e.data["widget_id"] for e in batch] for batch in batches] == [[0, 1, 2]]


def test_a_receiver_registered_later_gets_the_events_after_it(events_app):
    early, late = [], []
    register(events_app, "stats_probe", "widget.*", record_into(early))
    events.publish("widget.created", {"widget_id": 1}, workspace_id=None)
    db_session().commit()
    assert drain() == 1

    # The lookups the first delivery remembered must not hide the new receiver.
    register(events_app, "stats_probe", "widget.created", record_into(late))
    second = events.publish("widget.created", {"widget_id": 2}, workspace_id=None)
    db_session().commit()
    assert drain() == 1

    assert [e.data["widget_id"] for e in early] == [1, 2]
    assert [e.id for e in late] == [second.id]


def test_managed_kafka_tls_and_sasl_settings_reach_the_client(monkeypatch, tmp_path):
    from qrplatform.config import load_settings
    from qrplatform.events.kafka import client_options

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9093, broker-2:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "qrp")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    options = client_options(load_settings(str(tmp_path)))
    assert options["bootstrap_servers"] == ["broker-1:9093", "broker-2:9093"]
    assert (options["security_protocol"], options["sasl_mechanism"]) == ("SASL_SSL",
                                                                         "SCRAM-SHA-512")
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("qrp", "s3cret")
    assert "ssl_cafile" not in options  # unset: the library's default trust store
