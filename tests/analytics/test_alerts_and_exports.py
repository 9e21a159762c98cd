"""Alert rules notify through the real SendGrid and Twilio clients (to a capture endpoint),
once per anomaly and within a cooldown; CSV exports run as jobs and land in storage."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from qrp_analytics import alerts
from qrp_analytics.ingest import ingest_batch
from qrp_analytics.models import Anomaly
from qrplatform.events import Event
from qrplatform.extensions import db as database
from qrplatform.tenancy import tenant_scope, unscoped

from .conftest import GOOGLEBOT, IPHONE, make_code, scan

MAIL_SEND = "/v3/mail/send"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture
def notifying_app(make_app, capture_server, db):
    capture_server.respond(MESSAGES, status=201, body={"sid": "SM1", "status": "queued"})
    return make_app(SENDGRID_API_KEY="SG.test-key", SENDGRID_HOST=capture_server.url,
                    TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN="token",
                    TWILIO_FROM_NUMBER="+15550001111", TWILIO_API_BASE=capture_server.url)


def history(code: dict, workspace_id: int, start: datetime, end: datetime, per_hour: float,
            seed: int, agent: str = IPHONE, classification: str = "human",
            reason: str | None = None) -> list[Event]:
    """Scan events of a code with a daily rhythm, as the redirect would have emitted them."""
    rng = np.random.default_rng(seed)
    events = []
    hour = start
    while hour < end:
        rhythm = 1.0 + 0.8 * np.sin((hour.hour - 6) / 24 * 2 * np.pi)
        for n in range(rng.poisson(per_hour * rhythm)):
            when = hour + timedelta(seconds=int(rng.integers(0, 3600)))
            events.append(Event(
                type="qr.scanned", workspace_id=workspace_id, occurred_at=when.isoformat(),
                data={"code_id": code["id"], "short_code": code["short_code"], "method": "GET",
                      "user_agent": agent, "referrer": None, "country": "DE",
                      "language": "de", "ip_hash": f"{n:064x}",
                      "visitor_hash": f"{hash((hour, n)) & (2**128 - 1):032x}",
                      "classification": classification, "reason": reason,
                      "outcome": "redirected"}))
        hour += timedelta(hours=1)
    return events


def test_a_drop_and_a_bot_burst_are_detected_and_notified_once(notifying_app, capture_server,
                                                                owner):
    # The last 18:00 UTC: the poster's nine silent hours are then its busy daytime ones. At
    # night it is scanned so little that nine quiet hours prove nothing, so an hour taken from
    # the clock made this test fail in the morning.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    now -= timedelta(hours=(now.hour - 18) % 24)
    poster = make_code(owner, name="Station poster")
    flyer = make_code(owner, name="Flyer")
    removed_at = now - timedelta(hours=9)
    events = history(poster, owner.workspace_id, now - timedelta(days=90), removed_at, 3.0, 1)
    events += history(flyer, owner.workspace_id, now - timedelta(days=90), now, 1.0, 2)
    events += history(flyer, owner.workspace_id, now - timedelta(hours=1), now, 80.0, 3,
                      agent=GOOGLEBOT, classification="bot", reason="Googlebot")
    with notifying_app.app_context(), unscoped():
        for i in range(0, len(events), 5000):
            ingest_batch(events[i:i + 5000])
    rules = [
        {"kind": "drop", "channel": "email", "recipient": "ops@example.com"},
        {"kind": "drop", "channel": "sms", "recipient": "+15557654321",
         "code_id": poster["id"], "cooldown_hours": 48},
        {"kind": "bot_burst", "channel": "email", "recipient": "security@example.com"},
        {"kind": "spike", "channel": "email", "recipient": "marketing@example.com"},
    ]
    response = owner.put("/api/v1/analytics/alert-rules", json={"rules": rules})
    assert response.status_code == 200, response.json
    runner = notifying_app.test_cli_runner()
    with notifying_app.app_context():  # the CLI reuses an app context already there
        result = runner.invoke(args=["analytics", "detect", "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    assert "'anomalies': 2, 'alerts': 3" in result.output

    with notifying_app.app_context(), tenant_scope(owner.workspace_id):
        found = {(a.code_id, a.kind): a for a in database.session.scalars(select(Anomaly))}
    assert set(found) == {(poster["id"], "drop"), (flyer["id"], "bot_burst")}
    drop = found[(poster["id"], "drop")]
    # Since the hour after the last scan (the quiet night hour before may already be empty).
    last_scan = max(datetime.fromisoformat(e.occurred_at) for e in events
                    if e.data["code_id"] == poster["id"])
    silent_since = last_scan.replace(minute=0, second=0) + timedelta(hours=1)
    assert silent_since <= removed_at
    assert drop.started_at == silent_since and drop.observed == 0
    assert drop.message.startswith(
        f"Scans fell to 0 since {silent_since:%A} {silent_since:%H}:00 UTC; expected ~")

    mails = {m.json()["personalizations"][0]["to"][0]["email"]: m.json()
             for m in capture_server.requests_to(MAIL_SEND)}
    assert set(mails) == {"ops@example.com", "security@example.com"}
    assert mails["ops@example.com"]["subject"] == "Drop on “Station poster”"
    assert drop.message in mails["ops@example.com"]["content"][0]["value"]
    assert mails["security@example.com"]["subject"] == "Bot burst on “Flyer”"
    [sms] = capture_server.requests_to(MESSAGES)
    assert sms.form()["To"] == "+15557654321" and drop.message in sms.form()["Body"]

    # An hour later the drop goes on: the same anomaly, no second message.
    with notifying_app.app_context():
        result = runner.invoke(args=["analytics", "detect", "--now",
                                     (now + timedelta(hours=1)).isoformat()])
    assert result.exit_code == 0, result.output
    assert len(capture_server.requests_to(MAIL_SEND)) == 2
    assert len(capture_server.requests_to(MESSAGES)) == 1

    # A new drop of the same code within the SMS rule's 48 h cooldown: e-mail yes, SMS no.
    with notifying_app.app_context(), tenant_scope(owner.workspace_id):
        later = Anomaly(code_id=poster["id"], kind="drop", started_at=now + timedelta(days=1),
                        detected_at=now + timedelta(days=1), observed=0, expected=50,
                        score=-9, message="Scans fell to 0 again.")
        database.session.add(later)
        assert alerts.send_alerts([later], now + timedelta(days=1)) == 1
        database.session.commit()
    assert len(capture_server.requests_to(MESSAGES)) == 1
    assert len(capture_server.requests_to(MAIL_SEND)) == 3

    body = owner.get(f"/api/v1/qr-codes/{poster['id']}/analytics?range=7d").json
    assert body["anomalies"][0]["kind"] == "drop"
    assert body["forecast"]["ready"] is True and len(body["forecast"]["days"]) == 14


def test_exports_run_as_jobs_and_hold_only_privacy_safe_columns(app, client, owner, stream):
    code = make_code(owner, name="Menu")
    for i in range(7):
        scan(client, code, ip=f"198.51.100.{i}", **{"CF-IPCountry": "IT"})
    scan(client, code, agent=GOOGLEBOT, ip="66.249.66.1")
    stream.flush()
    response = owner.post("/api/v1/analytics/exports", json={"kind": "scans", "range": "7d"})
    assert response.status_code == 202, response.json
    job = owner.get(response.json["status_url"]).json
    assert job["state"] == "finished" and job["percent"] == 100, job
    assert job["result"]["rows"] == 8
    download = owner.get(job["files"][0]["url"])
    assert download.status_code == 200 and download.mimetype == "text/csv"
    text_ = download.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text_)))
    assert len(rows) == 8
    assert {r["classification"] for r in rows} == {"human", "bot"}
    assert rows[0]["code_name"] == "Menu" and rows[0]["country"] == "IT"
    assert "user_agent" not in rows[0] and "198.51.100" not in text_ and "iPhone" not in text_

    response = owner.post("/api/v1/analytics/exports", json={"kind": "aggregates"})
    job = owner.get(response.json["status_url"]).json
    [row] = list(csv.DictReader(io.StringIO(
        owner.get(job["files"][0]["url"]).get_data(as_text=True))))
    assert (row["scans"], row["humans"], row["uniques"], row["bots"]) == ("8", "7", "7", "1")

    response = owner.post("/api/v1/analytics/exports", json={"kind": "everything"})
    assert response.status_code == 422 and "kind" in response.json["error"]["fields"]


def test_another_workspaces_code_is_not_found(api, owner):
    code = make_code(owner)
    response = api().get(f"/api/v1/qr-codes/{code['id']}/analytics")
    assert response.status_code == 404
    assert set(response.json["error"]) == {"status", "code", "message", "fields", "request_id"}


@pytest.mark.parametrize("where", ["in-process", "redis"])
def test_forecasts_are_made_by_the_hourly_job_and_read_for_the_rest_of_the_hour(
        where, make_app, db, request, owner):
    from qrp_analytics import services

    app = make_app(REDIS_URL=request.getfixturevalue("redis_url")) if where == "redis" \
        else make_app()

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    code = make_code(owner, name="Menu")
    events = history(code, owner.workspace_id, now - timedelta(days=35), now, 3.0, 4)
    with app.app_context(), unscoped():
        for i in range(0, len(events), 5000):
            ingest_batch(events[i:i + 5000])
    with app.app_context():
        result = app.test_cli_runner().invoke(
            args=["analytics", "detect", "--now", now.isoformat()])
    assert result.exit_code == 0, result.output

    key = services.FORECAST_KEY.format(owner.workspace_id, code["id"], now)
    with app.app_context(), tenant_scope(owner.workspace_id):
        store = services.forecast_store()
        made = store.get(key)
        assert made["ready"] is True and len(made["days"]) == 14
        assert made == services.make_forecasts([code["id"]], now)[code["id"]]
        # The page and the API read the stored forecast for the rest of the hour...
        store.put(key, {**made, "days": [{**d, "expected": 12345.0} for d in made["days"]]})
        assert services.code_forecast(code["id"], now + timedelta(minutes=59))[
            "days"][0]["expected"] == 12345.0
        # ...and the next hour's is made from the rollups (and kept).
        later = services.code_forecast(code["id"], now + timedelta(hours=1))
        assert later["ready"] is True and later["days"][0]["expected"] != 12345.0
        assert store.get(services.FORECAST_KEY.format(
            owner.workspace_id, code["id"], now + timedelta(hours=1))) == later
    # Another workspace never reads it (its key names the workspace; it has no such scans).
    with app.app_context(), tenant_scope(owner.workspace_id + 1000):
        assert services.code_forecast(code["id"], now)["ready"] is False
