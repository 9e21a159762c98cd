"""E-mail and SMS, always sent from a job, never inside the request.

``send_email(to, template, **context)`` renders ``templates/emails/<template>.txt`` and
``.html`` (a plugin may ship its own under its blueprint's templates/emails/), records a
``notifications`` row and enqueues the delivery job after the commit. ``send_sms(to, text)``
does the same for SMS. The job retries with backoff and records the final failure on the row.

Backends: SendGrid (SENDGRID_API_KEY; SENDGRID_HOST points the client elsewhere, e.g. a local
endpoint in tests) and Twilio (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER;
TWILIO_API_BASE likewise); without keys, messages are written to the log.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

from flask import Flask, current_app, render_template
from sqlalchemy import Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from qrplatform import hosts, jobs
from qrplatform.extensions import db
from qrplatform.sqltypes import UTCDateTime
from qrplatform.tenancy import TenantMixin

log = logging.getLogger(__name__)

DEFAULT_SENDER = "QR Platform <no-reply@qrplatform.local>"
# Seconds a provider call may take before the attempt counts as failed (and is retried).
PROVIDER_TIMEOUT = 10
# Retries of a failed send after the first attempt, with the jobs' backoff.
DELIVERY_RETRIES = 3


class Notification(TenantMixin, db.Model):
    __tablename__ = "notifications"
    __tenant_nullable__ = True  # password resets belong to no workspace

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))  # email | sms
    recipient: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(100), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|retrying|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                 server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeliveryError(RuntimeError):
    """A provider refused or failed a message. ``permanent``: sending it again cannot help
    (a 4xx such as an invalid address or bad credentials), so it is not retried."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def _is_permanent(status: int | None) -> bool:
    # Timeouts and rate limits are worth another try; other 4xx mean the request is wrong.
    return status is not None and 400 <= status < 500 and status not in {408, 429}


class LogBackend:
    """The embedded default: the message goes to the log, as a JSON line."""

    name = "log"

    def send_email(self, message: Notification) -> str:
        log.info("e-mail %s", json.dumps({"to": message.recipient, "subject": message.subject,
                                          "text": message.body_text}))
        return "logged"

    def send_sms(self, message: Notification) -> str:
        log.info("sms %s", json.dumps({"to": message.recipient, "text": message.body_text}))
        return "logged"


class SendGridBackend:
    """SendGrid's v3 mail API through the ``sendgrid`` library; SENDGRID_HOST replaces
    https://api.sendgrid.com (a regional endpoint, or a local one in tests)."""

    name = "SendGrid"

    def __init__(self, config):
        from sendgrid import SendGridAPIClient

        options = {"api_key": config["SENDGRID_API_KEY"]}
        if config.get("SENDGRID_HOST"):
            options["host"] = config["SENDGRID_HOST"].rstrip("/")
        self.client = SendGridAPIClient(**options)
        # python_http_client waits forever by default; a job must not hang on a dead host.
        self.client.client.timeout = PROVIDER_TIMEOUT
        self.sender = config.get("QRP_MAIL_FROM") or DEFAULT_SENDER

    def send_email(self, message: Notification) -> str:
        from python_http_client.exceptions import HTTPError
        from sendgrid.helpers.mail import Mail

        mail = Mail(from_email=self.sender, to_emails=message.recipient,
                    subject=message.subject, plain_text_content=message.body_text,
                    html_content=message.body_html)
        try:
            response = self.client.send(mail)
        except HTTPError as exc:
            body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
            raise DeliveryError(f"SendGrid answered {exc.status_code}: {body}"[:1000],
                                permanent=_is_permanent(exc.status_code)) from exc
        except OSError as exc:  # URLError, timeouts, refused connections
            raise DeliveryError(f"SendGrid could not be reached: {exc}") from exc
        return response.headers.get("X-Message-Id") or ""


class TwilioBackend:
    """Twilio's Messages API through the ``twilio`` library; TWILIO_API_BASE replaces
    https://api.twilio.com (the base URL of the library's ``api`` domain)."""

    name = "Twilio"

    def __init__(self, config):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
                             http_client=TwilioHttpClient(timeout=PROVIDER_TIMEOUT))
        if config.get("TWILIO_API_BASE"):
            # Messages live on the `api` domain; each domain carries its base URL. Edge and
            # region (TWILIO_EDGE / TWILIO_REGION) would rewrite that host, so they are off.
            self.client.api.base_url = config["TWILIO_API_BASE"].rstrip("/")
            self.client.edge = self.client.region = None
        self.sender = config.get("TWILIO_FROM_NUMBER")

    def send_sms(self, message: Notification) -> str:
        from requests import RequestException
        from twilio.base.exceptions import TwilioRestException

        try:
            sms = self.client.messages.create(to=message.recipient, from_=self.sender,
                                              body=message.body_text)
        except TwilioRestException as exc:
            raise DeliveryError(f"Twilio answered {exc.status}: {exc.msg}"[:1000],
                                permanent=_is_permanent(exc.status)) from exc
        except RequestException as exc:
            raise DeliveryError(f"Twilio could not be reached: {exc}") from exc
        return sms.sid


def _backends(app: Flask) -> dict:
    return app.extensions["qrp.notify"]


def send_email(to: str, template: str, *, subject: str, workspace_id: int | None = None,
               **context) -> Notification:
    """Render and queue an e-mail; delivered by a job after the caller's commit."""
    context.setdefault("public_base_url", hosts.public_base_url())
    message = Notification(
        id=str(uuid.uuid4()),
        channel="email",
        recipient=to,
        template=template,
        subject=subject,
        body_text=render_template(f"emails/{template}.txt", subject=subject, **context),
        body_html=render_template(f"emails/{template}.html", subject=subject, **context),
        workspace_id=workspace_id,
    )
    db.session.add(message)
    jobs.enqueue(deliver, message.id, retries=DELIVERY_RETRIES, description=f"e-mail to {to}",
                 workspace_id=workspace_id)
    return message


def send_sms(to: str, text: str, *, workspace_id: int | None = None) -> Notification:
    message = Notification(id=str(uuid.uuid4()), channel="sms", recipient=to, body_text=text,
                           workspace_id=workspace_id)
    db.session.add(message)
    jobs.enqueue(deliver, message.id, retries=DELIVERY_RETRIES, description=f"SMS to {to}",
                 workspace_id=workspace_id)
    return message


def deliver(notification_id: str) -> dict:
    """The job: send one recorded message. A failure is retried with backoff; the row keeps
    the attempts and the last error, and says ``failed`` once no retry is left."""
    message = db.session.get(Notification, notification_id)
    if message is None:
        raise jobs.JobError(f"notification {notification_id} does not exist")
    if message.status == "sent":  # the job ran twice: never send twice
        return {"status": "sent", "provider_id": message.provider_id}
    backend = _backends(current_app)[message.channel]
    message.attempts += 1
    try:
        provider_id = (backend.send_email(message) if message.channel == "email"
                       else backend.send_sms(message))
    except Exception as exc:
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        running = jobs.current()
        will_retry = not permanent and running is not None and running.retries_left > 0
        message.status = "retrying" if will_retry else "failed"
        message.error = (str(exc) if isinstance(exc, DeliveryError)
                         else f"{type(exc).__name__}: {exc}")[:2000]
        db.session.commit()
        if permanent:
            raise jobs.JobError(message.error) from exc
        raise
    message.status, message.error = "sent", None
    message.provider_id = provider_id
    message.sent_at = datetime.now(UTC)
    db.session.commit()
    return {"status": "sent", "provider_id": provider_id, "backend": backend.name}


def init_app(app: Flask) -> None:
    config = app.config
    app.extensions["qrp.notify"] = {
        "email": SendGridBackend(config) if config.get("SENDGRID_API_KEY") else LogBackend(),
        "sms": TwilioBackend(config) if config.get("TWILIO_ACCOUNT_SID") else LogBackend(),
    }
    jobs.register(app, deliver)
