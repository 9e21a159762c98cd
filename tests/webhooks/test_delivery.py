"""Events reach a real local receiver, signed (verified there with the standardwebhooks
library), retried until acknowledged, and an endpoint that keeps failing is turned off."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from qrplatform.events.models import OutboxEvent
from qrplatform.notify import Notification
from qrplatform.tenancy import tenant_scope, unscoped
from qrplatform.webhooks import services
from qrplatform.webhooks.models import WebhookDelivery

from .conftest import QUICK_RETRIES, make_code, register, relay, run_delayed


def deliveries(caller, webhook_id, **query) -> list[dict]:
    response = caller.get(f"/api/v1/webhooks/{webhook_id}/deliveries", query_string=query)
    assert response.status_code == 200, response.json
    return response.json["items"]


def a_minute_passes(db, runner) -> None:
    """The retries booked a minute ahead are due: their deliveries and the job that wakes up
    for them."""
    with unscoped():
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.state == "pending")
                           .values(next_attempt_at=datetime.now(UTC)))
        db.session.execute(update(services.WebhookEndpoint).values(wake_at=datetime.now(UTC)))
        db.session.commit()
    runner.run_delayed(wait=False)


def test_an_event_reaches_the_receiver_signed(owner, hooked, webhook_receiver):
    code = make_code(owner, "Spring poster")
    relay()

    [received] = webhook_receiver.received
    assert received.error is None and received.answered == 200
    body = received.payload
    assert body["type"] == "qr.created" and body["data"]["code_id"] == code["id"]
    assert body["workspace_id"] == owner.workspace_id
    assert body["actor"]["type"] == "user" and body["timestamp"]
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-signature"].startswith("v1,")

    [logged] = deliveries(owner, hooked["id"])
    assert logged["message_id"] == received.message_id
    assert (logged["state"], logged["attempts"], logged["last_status"]) == ("delivered", 1, 200)
    assert logged["event_id"] == body["id"] and logged["last_latency_ms"] >= 0
    detail = owner.get(f"/api/v1/webhooks/{hooked['id']}/deliveries/{logged['id']}").json
    assert detail["payload"].encode() == received.body, "the log keeps the exact bytes sent"
    [attempt] = detail["attempt_log"]
    assert (attempt["trigger"], attempt["status_code"], attempt["address"]) == (
        "event", 200, "127.0.0.1")
    assert json.loads(attempt["response_snippet"]) == {"ok": True, "error": None}


def test_a_forged_or_stale_delivery_does_not_verify(owner, hooked, webhook_receiver):
    make_code(owner)
    relay()
    [received] = webhook_receiver.received
    with_other_secret = Webhook(services._new_secret())
    try:
        with_other_secret.verify(received.body, received.headers)
        raise AssertionError("verified with another secret")
    except WebhookVerificationError:
        pass
    stale = {**received.headers, "webhook-timestamp": str(int(received.headers[
        "webhook-timestamp"]) - 3600)}
    try:
        Webhook(hooked["secret"]).verify(received.body, stale)
        raise AssertionError("a replayed hour-old delivery verified")
    except WebhookVerificationError:
        pass


def test_a_receiver_failing_twice_gets_the_event_acknowledged_once(
        owner, hooked, webhook_receiver, runner):
    webhook_receiver.fail_next(2)
    make_code(owner)
    relay()
    run_delayed(runner)

    assert [r.answered for r in webhook_receiver.received] == [500, 500, 200]
    ids = {r.message_id for r in webhook_receiver.received}
    assert len(ids) == 1, "every attempt carries the same webhook-id"
    assert webhook_receiver.acknowledged == list(ids)
    assert all(r.error is None for r in webhook_receiver.received)

    [logged] = deliveries(owner, hooked["id"])
    assert (logged["state"], logged["attempts"]) == ("delivered", 3)
    detail = owner.get(f"/api/v1/webhooks/{hooked['id']}/deliveries/{logged['id']}").json
    assert [(a["trigger"], a["status_code"]) for a in detail["attempt_log"]] == [
        ("event", 500), ("retry", 500), ("retry", 200)]

    # Nothing is left to send: a sweep and more job runs change nothing.
    from qrplatform.webhooks.jobs import send_pending, sweep

    with unscoped():
        sweep()
    run_delayed(runner)
    with tenant_scope(owner.workspace_id):
        send_pending(hooked["id"])
    assert len(webhook_receiver.received) == 3
    endpoint = owner.get(f"/api/v1/webhooks/{hooked['id']}").json
    assert endpoint["enabled"] and endpoint["failing_since"] is None


def test_an_endpoint_failing_for_the_whole_schedule_is_turned_off_and_owners_emailed(
        owner, hooked, webhook_receiver, runner, db):
    webhook_receiver.fail_next(10, status=503)
    make_code(owner)
    relay()
    run_delayed(runner)

    assert len(webhook_receiver.received) == len(QUICK_RETRIES) + 1
    [logged] = deliveries(owner, hooked["id"])
    assert (logged["state"], logged["attempts"], logged["last_error"]) == (
        "failed", 4, "HTTP 503")
    endpoint = owner.get(f"/api/v1/webhooks/{hooked['id']}").json
    assert (endpoint["enabled"], endpoint["disabled_reason"]) == (False, "failing")
    assert endpoint["failing_since"] is not None

    with unscoped():
        [mail] = db.session.scalars(select(Notification).where(
            Notification.template == "webhook_disabled")).all()
        owner_email = db.session.execute(select(OutboxEvent.payload).where(
            OutboxEvent.type == "webhook.disabled")).scalar_one()
    assert mail.status == "sent" and mail.workspace_id == owner.workspace_id
    assert hooked["url"].split("?")[0] in mail.body_text and "HTTP 503" in mail.body_text
    assert json.loads(owner_email)["actor"] == {"type": "system"}
    assert json.loads(owner_email)["data"]["reason"] == "failing"

    # Turned off: new events wait for nobody...
    make_code(owner, "Another")
    relay()
    assert len(deliveries(owner, hooked["id"])) == 1
    # ...but a test event still goes (to check the server before turning it back on).
    test = owner.post(f"/api/v1/webhooks/{hooked['id']}/test")
    assert test.status_code == 202 and test.json["event_type"] == "webhook.test"
    assert webhook_receiver.received[-1].payload["type"] == "webhook.test"
    assert owner.patch(f"/api/v1/webhooks/{hooked['id']}", json={"enabled": True}).json[
        "enabled"] is True
    make_code(owner, "Third")
    relay()
    assert webhook_receiver.received[-1].payload["data"]["name"] == "Third"


def test_an_endpoint_that_works_for_other_events_is_not_turned_off(
        app, owner, hooked, webhook_receiver, runner, monkeypatch, db):
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_RETRY_SCHEDULE", [60, 0.05, 0.05])
    webhook_receiver.fail_next(1)
    make_code(owner, "First")
    relay()  # the first attempt fails; its retry waits a minute
    make_code(owner, "Second")
    relay()  # waits behind the first one's retry
    webhook_receiver.answer_next(200, 500, 500, 500)  # the second gets through, not the first
    a_minute_passes(db, runner)
    run_delayed(runner)
    states = sorted(d["state"] for d in deliveries(owner, hooked["id"]))
    assert states == ["delivered", "failed"]
    assert owner.get(f"/api/v1/webhooks/{hooked['id']}").json["enabled"] is True


def test_a_failing_endpoint_is_probed_by_its_retries_not_hammered_by_each_event(
        app, owner, hooked, webhook_receiver, runner, monkeypatch, db):
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_RETRY_SCHEDULE", [60, 60, 60])
    webhook_receiver.fail_next(100, status=503)
    for n in range(6):
        make_code(owner, f"Code {n}")
        relay()
    assert len(webhook_receiver.received) == 1, "later events wait for the first one's retry"
    logged = deliveries(owner, hooked["id"])
    assert len(logged) == 6 and {d["state"] for d in logged} == {"pending"}

    a_minute_passes(db, runner)
    assert len(webhook_receiver.received) == 2, "one probe per retry while it fails"
    webhook_receiver.recover()
    a_minute_passes(db, runner)
    assert len(webhook_receiver.acknowledged) == 6
    assert {d["state"] for d in deliveries(owner, hooked["id"])} == {"delivered"}


def test_a_refused_connection_is_logged_as_such(app, owner, local_hooks, monkeypatch):
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_RETRY_SCHEDULE", [60])
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{unused.getsockname()[1]}/gone"
    endpoint = register(owner, dead)
    make_code(owner)
    relay()
    [logged] = deliveries(owner, endpoint["id"])
    assert (logged["state"], logged["last_error"], logged["last_status"]) == (
        "pending", "connection refused", None)


def test_a_loopback_receiver_is_refused_unless_a_setting_allows_it(
        app, owner, webhook_receiver, monkeypatch, runner):
    refused = owner.post("/api/v1/webhooks", json={"url": webhook_receiver.url,
                                                   "events": ["qr.*"]})
    assert refused.status_code == 422
    assert refused.json["error"]["fields"]["url"] == [
        "127.0.0.1 is not a public address (loopback, private, link-local or reserved); use a "
        "public host."]

    monkeypatch.setitem(app.config, "QRP_NETGUARD_ALLOW_NETWORKS", ["127.0.0.0/8"])
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_RETRY_SCHEDULE", [60])
    endpoint = register(owner, webhook_receiver.url)
    webhook_receiver.secret = endpoint["secret"]
    # The check is made again at each delivery: once the setting is gone, nothing is sent.
    monkeypatch.setitem(app.config, "QRP_NETGUARD_ALLOW_NETWORKS", [])
    make_code(owner)
    relay()
    assert webhook_receiver.received == []
    [logged] = deliveries(owner, endpoint["id"])
    assert logged["state"] == "pending" and logged["last_error"].startswith(
        "refused: 127.0.0.1 is not a public address")


def test_a_name_that_now_points_inside_is_refused_at_delivery(
        app, owner, webhook_receiver, local_hooks, monkeypatch):
    """DNS rebinding: checked at registration, checked again after resolving at delivery."""
    from qrplatform import netguard

    monkeypatch.setitem(app.config, "QRP_WEBHOOK_RETRY_SCHEDULE", [60])
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    answers = {"now": "127.0.0.1"}

    def resolver(host, port, *args, **kwargs):
        assert host == "hooks.example.test"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers["now"], port))]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", resolver)
    endpoint = register(owner, f"http://hooks.example.test:{port}/hooks")
    webhook_receiver.secret = endpoint["secret"]
    answers["now"] = "169.254.169.254"
    make_code(owner)
    relay()
    assert webhook_receiver.received == []
    [logged] = deliveries(owner, endpoint["id"])
    assert "resolves to 169.254.169.254" in logged["last_error"]
    answers["now"] = "127.0.0.1"
    owner.post(f"/api/v1/webhooks/{endpoint['id']}/test")
    assert webhook_receiver.received[-1].headers["host"] == f"hooks.example.test:{port}"


def test_test_events_and_redeliveries(owner, hooked, webhook_receiver):
    sent = owner.post(f"/api/v1/webhooks/{hooked['id']}/test")
    assert sent.status_code == 202
    # Once, no retries; the tests' inline job runner sent it before the answer was made.
    assert (sent.json["state"], sent.json["max_attempts"]) == ("delivered", 1)
    [received] = webhook_receiver.received
    assert received.payload["type"] == "webhook.test"
    assert received.payload["data"]["webhook_id"] == hooked["id"]

    again = owner.post(f"/api/v1/webhooks/{hooked['id']}/deliveries/{sent.json['id']}"
                       "/redeliver")
    assert again.status_code == 202
    assert webhook_receiver.acknowledged == [received.message_id] * 2, \
        "a redelivery keeps its webhook-id, so the receiver can tell"
    detail = owner.get(f"/api/v1/webhooks/{hooked['id']}/deliveries/{sent.json['id']}").json
    assert [a["trigger"] for a in detail["attempt_log"]] == ["test", "redeliver"]
    assert detail["state"] == "delivered" and detail["attempts"] == 2


def test_a_rotated_secret_signs_next_to_the_old_one_for_a_while(
        app, owner, hooked, webhook_receiver, monkeypatch, db):
    rotated = owner.post(f"/api/v1/webhooks/{hooked['id']}/secret")
    assert rotated.status_code == 201
    new_secret = rotated.json["secret"]
    assert new_secret != hooked["secret"] and new_secret.startswith("whsec_")
    make_code(owner)
    relay()
    [received] = webhook_receiver.received  # verified with the old secret
    assert received.error is None
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(received.body, received.headers)

    with unscoped():
        db.session.execute(update(services.WebhookEndpoint).values(
            previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
    make_code(owner, "Later")
    relay()
    assert webhook_receiver.received[-1].error == "No matching signature found"
    webhook_receiver.secret = new_secret
    owner.post(f"/api/v1/webhooks/{hooked['id']}/test")
    assert webhook_receiver.received[-1].error is None


def test_a_redelivery_of_a_failed_delivery_is_one_more_attempt(
        owner, hooked, webhook_receiver, runner):
    webhook_receiver.fail_next(10)
    make_code(owner)
    relay()
    run_delayed(runner)
    [failed] = deliveries(owner, hooked["id"])
    assert failed["state"] == "failed"
    webhook_receiver.fail_next(1)
    owner.post(f"/api/v1/webhooks/{hooked['id']}/deliveries/{failed['id']}/redeliver")
    run_delayed(runner)
    [again] = deliveries(owner, hooked["id"])
    assert (again["state"], again["attempts"], again["max_attempts"]) == ("failed", 5, 5)


def test_old_deliveries_are_forgotten_and_lost_jobs_restarted(
        app, owner, hooked, webhook_receiver, runner, db, monkeypatch):
    from qrplatform.webhooks.jobs import purge, sweep

    monkeypatch.setitem(app.config, "QRP_WEBHOOK_RETRY_SCHEDULE", [60, 60])
    make_code(owner)
    relay()
    with unscoped():
        db.session.execute(update(WebhookDelivery).values(
            created_at=datetime.now(UTC) - timedelta(days=31)))
        db.session.commit()
        assert purge() == {"deleted": 1}
    assert deliveries(owner, hooked["id"]) == []

    # A delivery whose send job was lost (the embedded thread died with its process).
    webhook_receiver.fail_next(1)
    make_code(owner, "Lost")
    relay()
    runner.delayed.clear()  # the retry's job is lost
    with unscoped():
        db.session.execute(update(WebhookDelivery).values(
            next_attempt_at=datetime.now(UTC) - timedelta(minutes=10)))
        db.session.commit()
        assert sweep() == {"restarted": 1}
    assert webhook_receiver.acknowledged[-1] == webhook_receiver.received[-1].message_id
    assert deliveries(owner, hooked["id"])[0]["state"] == "delivered"
