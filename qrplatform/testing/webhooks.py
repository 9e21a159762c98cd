"""``webhook_receiver``: a real HTTP server on 127.0.0.1 that checks every delivery the way a
customer's server would, with the ``standardwebhooks`` library and the endpoint's secret.

    receiver.secret = created["secret"]          # from POST /api/v1/webhooks
    receiver.fail_next(2)                         # answer 500 twice, then 200 again
    receiver.answer_next(200, 503)                # these, in order, then 200 again
    ...
    assert receiver.acknowledged == [message_id]  # webhook-ids answered 2xx, in order

Each request is kept (``received``) with its headers, raw body, the verified JSON (or the
verification error) and what was answered. A request whose signature does not verify is
answered 401, as a careful receiver does. The test app must allow 127.0.0.1
(``QRP_NETGUARD_ALLOW_NETWORKS``): without it the platform refuses to call a loopback address.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import pytest
from werkzeug.wrappers import Request, Response

from qrplatform.testing.servers import thread_server


@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict | None  # the verified JSON; None when the signature did not verify
    error: str | None
    answered: int

    @property
    def message_id(self) -> str | None:
        return self.headers.get("webhook-id")


@dataclass
class WebhookReceiver:
    url: str = ""
    secret: str | None = None
    received: list[ReceivedWebhook] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, times: int, status: int = 500) -> None:
        """Answer the next ``times`` deliveries with ``status`` (after verifying them)."""
        self.answer_next(*[status] * times)

    def answer_next(self, *statuses: int) -> None:
        """Answer the next deliveries with these statuses, in order; 200 after them."""
        with self._lock:
            self._failures.extend(statuses)

    def recover(self) -> None:
        """Answer 200 again from now on."""
        with self._lock:
            self._failures.clear()

    @property
    def acknowledged(self) -> list[str]:
        """The webhook-ids answered with a 2xx, in the order they came."""
        with self._lock:
            return [r.message_id for r in self.received if 200 <= r.answered < 300]

    @property
    def verified(self) -> list[dict]:
        with self._lock:
            return [r.payload for r in self.received if r.payload is not None]

    def wsgi_app(self, environ, start_response):
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        request = Request(environ)
        body = request.get_data(cache=False)
        headers = {name.lower(): value for name, value in request.headers.items()}
        payload = error = None
        try:
            if not self.secret:
                raise WebhookVerificationError("the test gave the receiver no secret")
            payload = Webhook(self.secret).verify(body, headers)
        except (WebhookVerificationError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
        with self._lock:
            status = 401 if error else (self._failures.pop(0) if self._failures else 200)
            self.received.append(ReceivedWebhook(request.path, headers, body, payload, error,
                                                 status))
        text = json.dumps({"ok": status < 300, "error": error})
        return Response(text, status=status, content_type="application/json")(
            environ, start_response)


@pytest.fixture
def webhook_receiver():
    """A threaded HTTP server on a free loopback port; see the module."""
    receiver = WebhookReceiver()
    with thread_server(receiver.wsgi_app) as base_url:
        receiver.url = f"{base_url}/hooks"
        yield receiver
