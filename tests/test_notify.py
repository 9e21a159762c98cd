"""E-mail through the real sendgrid client and SMS through the real twilio client, both talking
to a local capture endpoint; delivery runs as a job after the commit, retried, then recorded."""

import pytest

from qrplatform import notify
from qrplatform.jobs import Job
from qrplatform.notify import Notification
from qrplatform.tenancy import unscoped
from qrplatform.testing.pytest_plugin import csrf_token

MAIL_SEND = "/v3/mail/send"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "twilio-auth-token"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture
def sendgrid_app(make_app, capture_server, db):
    return make_app(SENDGRID_API_KEY="SG.test-key", SENDGRID_HOST=capture_server.url,
                    QRP_MAIL_FROM="QR Platform <mail@qr.example>")


@pytest.fixture
def twilio_app(make_app, capture_server, db):
    capture_server.respond(MESSAGES, status=201,
                           body={"sid": "SM0001", "status": "queued", "to": "+15557654321"})
    return make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                    TWILIO_FROM_NUMBER="+15550001111", TWILIO_API_BASE=capture_server.url)


def stored(notification_id: str) -> Notification:
    with unscoped():
        return Notification.query.filter_by(id=notification_id).one()


def delivery_job(notification_id: str) -> Job:
    with unscoped():
        return Job.query.filter(Job.args[0].as_string() == notification_id).one()


def test_password_reset_email_goes_through_sendgrid(sendgrid_app, capture_server, create_user):
    create_user(email="ann@example.com", name="Ann")
    client = sendgrid_app.test_client()

    response = client.post("/forgot-password", data={
        "email": "ann@example.com", "csrf_token": csrf_token(client, "/forgot-password")})

    assert response.status_code == 302
    [sent] = capture_server.requests_to(MAIL_SEND)
    assert sent.method == "POST"
    assert sent.headers["Authorization"] == "Bearer SG.test-key"
    mail = sent.json()
    assert mail["personalizations"][0]["to"] == [{"email": "ann@example.com"}]
    assert mail["from"] == {"email": "mail@qr.example", "name": "QR Platform"}
    assert mail["subject"] == "Reset your QR Platform password"
    text, html = mail["content"]
    assert text["type"] == "text/plain" and html["type"] == "text/html"
    assert "Hello Ann," in text["value"]
    assert "http://localhost/reset-password/" in text["value"]
    assert '<a href="http://localhost/reset-password/' in html["value"]
    with unscoped():
        message = Notification.query.filter_by(recipient="ann@example.com").one()
    assert (message.status, message.attempts, message.error) == ("sent", 1, None)


def test_email_is_sent_only_after_the_commit(sendgrid_app, capture_server, db):
    with sendgrid_app.app_context():
        message = notify.send_email("bob@example.com", "password_reset", subject="Hi",
                                    name="Bob", link="https://qr.example/x", hours=1)
        assert capture_server.requests == [], "nothing may leave inside the transaction"
        db.session.commit()
        assert len(capture_server.requests_to(MAIL_SEND)) == 1
        assert stored(message.id).status == "sent"


def test_email_rolled_back_is_never_sent(sendgrid_app, capture_server, db):
    with sendgrid_app.app_context():
        message_id = notify.send_email("bob@example.com", "password_reset", subject="Hi",
                                       name="Bob", link="https://qr.example/x", hours=1).id
        db.session.rollback()
        db.session.commit()
        with unscoped():
            assert db.session.get(Notification, message_id) is None
    assert capture_server.requests == []


def test_sms_goes_through_twilio(twilio_app, capture_server, db):
    with twilio_app.app_context():
        message = notify.send_sms("+15557654321", "Your QR code was scanned 1,000 times.")
        db.session.commit()

        [sent] = capture_server.requests_to(MESSAGES)
        assert sent.method == "POST"
        auth = sent.authorization
        assert (auth.type, auth.username, auth.password) == ("basic", ACCOUNT_SID, AUTH_TOKEN)
        form = sent.form()
        assert form["To"] == "+15557654321"
        assert form["From"] == "+15550001111"
        assert form["Body"] == "Your QR code was scanned 1,000 times."
        row = stored(message.id)
        assert (row.status, row.provider_id, row.attempts) == ("sent", "SM0001", 1)


def test_failing_provider_is_retried_then_recorded_as_failed(sendgrid_app, capture_server,
                                                             db):
    capture_server.respond(MAIL_SEND, status=500, body={"errors": [{"message": "down"}]})
    with sendgrid_app.app_context():
        message = notify.send_email("carol@example.com", "password_reset", subject="Hi",
                                    name="Carol", link="https://qr.example/x", hours=1)
        db.session.commit()

        attempts = 1 + notify.DELIVERY_RETRIES
        assert len(capture_server.requests_to(MAIL_SEND)) == attempts
        row = stored(message.id)
        assert row.status == "failed"
        assert row.attempts == attempts
        assert "SendGrid answered 500" in row.error and "down" in row.error
        job = delivery_job(message.id)
        assert job.state == "failed" and job.attempts == attempts
        assert "SendGrid answered 500" in job.error


def test_provider_recovering_within_the_retries_delivers_once(twilio_app, capture_server, db):
    capture_server.respond(MESSAGES, status=503, times=2)
    with twilio_app.app_context():
        message = notify.send_sms("+15557654321", "Hello")
        db.session.commit()

        assert len(capture_server.requests_to(MESSAGES)) == 3
        row = stored(message.id)
        assert (row.status, row.attempts, row.error) == ("sent", 3, None)


def test_refused_message_is_not_retried(twilio_app, capture_server, db):
    capture_server.respond(MESSAGES, status=400,
                           body={"code": 21211, "message": "The 'To' number is not valid.",
                                 "status": 400})
    with twilio_app.app_context():
        message = notify.send_sms("+1555", "Hello")
        db.session.commit()

        assert len(capture_server.requests_to(MESSAGES)) == 1
        row = stored(message.id)
        assert row.status == "failed"
        assert "Twilio answered 400" in row.error and "not valid" in row.error
        job = delivery_job(message.id)
        assert job.state == "failed" and job.attempts == 1


def test_without_keys_messages_go_to_the_log(app, db, caplog):
    with app.app_context():
        message = notify.send_sms("+15557654321", "Logged, not sent")
        db.session.commit()
        assert stored(message.id).provider_id == "logged"
    assert any("Logged, not sent" in record.getMessage() for record in caplog.records)
