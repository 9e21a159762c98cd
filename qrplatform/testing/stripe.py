"""A Stripe-protocol server for tests: localstripe (PyPI), behind a small front that adds what
localstripe lacks.

- ``localstripe_server`` (session): ``localstripe`` in a process of its own on a free port.
- ``stripe_server``: a front on another free port, emptied for each test. Point STRIPE_API_BASE
  at ``stripe_server.url`` and the real ``stripe`` library talks to it: customers, plans,
  products, subscriptions, invoices... are forwarded to localstripe; Checkout Sessions
  (``/v1/checkout/sessions``) and Customer Portal sessions (``/v1/billing_portal/sessions``),
  which localstripe answers 404, are answered here and recorded, with a page at their ``url``.
  ``stripe_server.complete_checkout(session_id)`` does what Stripe does once a person paid: a
  customer's card, the subscription in localstripe, and the completed session.
- ``stripe_config``: the settings for ``make_app(**stripe_config)``; ``stripe_events`` builds
  events and signs them with the test secret (``stripe.WebhookSignature``, the library's own
  signing scheme).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from qrplatform.testing.kafka import free_port

API_KEY = "sk_test_qrplatform"
WEBHOOK_SECRET = "whsec_test_qrplatform"
GOOD_CARD = "4242424242424242"
# Attaches fine; every later charge is declined (Stripe's and localstripe's test card).
DECLINED_LATER_CARD = "4000000000000341"


class LocalStripe:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self.process.returncode}")
            try:
                requests.get(f"{self.url}/v1/customers", auth=(API_KEY, ""), timeout=1)
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def flush(self) -> None:
        requests.delete(f"{self.url}/_config/data", auth=(API_KEY, ""), timeout=10)


@dataclass
class StripeFront:
    """What the app's ``stripe`` client talks to (see the module)."""

    backend: str
    url: str = ""
    checkout_sessions: dict[str, dict] = field(default_factory=dict)
    portal_sessions: dict[str, dict] = field(default_factory=dict)

    # -- the Stripe API, as the app's client sees it -------------------------------------

    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        if request.path == "/v1/checkout/sessions" and request.method == "POST":
            response = self._json(self._new_checkout(_form(request)))
        elif request.path == "/v1/billing_portal/sessions" and request.method == "POST":
            response = self._json(self._new_portal(_form(request)))
        elif request.path.startswith("/v1/checkout/sessions/"):
            found = self.checkout_sessions.get(request.path.rsplit("/", 1)[1])
            response = self._json(found) if found else self._json(_missing(), 404)
        elif request.path.startswith(("/pay/", "/portal/")):
            response = self._page(request.path)
        else:
            response = self._forward(request)
        return response(environ, start_response)

    def _new_checkout(self, form: dict) -> dict:
        session_id = f"cs_test_{secrets.token_hex(12)}"
        session = {
            "id": session_id, "object": "checkout.session", "mode": form.get("mode"),
            "customer": form.get("customer"),
            "client_reference_id": form.get("client_reference_id"),
            "price": form.get("line_items[0][price]"),
            "metadata": {}, "subscription_metadata": {
                key[len("subscription_data[metadata]["):-1]: value for key, value in form.items()
                if key.startswith("subscription_data[metadata][")},
            "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
            "status": "open", "payment_status": "unpaid", "subscription": None,
            "url": f"{self.url}/pay/{session_id}", "livemode": False,
        }
        self.checkout_sessions[session_id] = session
        return session

    def _new_portal(self, form: dict) -> dict:
        session_id = f"bps_{secrets.token_hex(12)}"
        session = {"id": session_id, "object": "billing_portal.session",
                   "customer": form.get("customer"), "return_url": form.get("return_url"),
                   "url": f"{self.url}/portal/{session_id}", "livemode": False}
        self.portal_sessions[session_id] = session
        return session

    def _page(self, path: str) -> Response:
        title = "Stripe Checkout (test)" if path.startswith("/pay/") else "Stripe portal (test)"
        html = (f"<!doctype html><html lang=en><title>{title}</title>"
                '<link rel="icon" href="data:,">'  # no favicon request (it would 401)
                f"<main><h1>{title}</h1><p>{path}</p></main></html>")
        return Response(html, content_type="text/html; charset=utf-8")

    def _forward(self, request: Request) -> Response:
        answer = requests.request(
            request.method, self.backend + request.full_path.rstrip("?"),
            data=request.get_data(), timeout=30,
            headers={k: v for k, v in request.headers.items()
                     if k.lower() in ("authorization", "content-type", "stripe-version",
                                      "idempotency-key")})
        return Response(answer.content, status=answer.status_code,
                        content_type=answer.headers.get("Content-Type", "application/json"))

    @staticmethod
    def _json(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    # -- what Stripe does on its side, for the tests ----------------------------------------

    def call(self, method: str, path: str, **params) -> dict:
        """Talk to localstripe directly, as Stripe's own systems would act."""
        answer = requests.request(method, self.backend + path, auth=(API_KEY, ""),
                                  data=_flatten(params), timeout=30)
        assert answer.ok, f"{method} {path}: {answer.status_code} {answer.text[:500]}"
        return answer.json()

    def give_card(self, customer: str, number: str = GOOD_CARD) -> str:
        """Attach a card and make it the customer's default for invoices."""
        card = self.call("POST", "/v1/payment_methods", type="card", card={
            "number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"})
        self.call("POST", f"/v1/payment_methods/{card['id']}/attach", customer=customer)
        self.call("POST", f"/v1/customers/{customer}",
                  invoice_settings={"default_payment_method": card["id"]})
        return card["id"]

    def complete_checkout(self, session_id: str, card: str = GOOD_CARD) -> dict:
        """The person paid on Stripe's page: the subscription exists, the session is done."""
        session = self.checkout_sessions[session_id]
        self.give_card(session["customer"], card)
        subscription = self.call("POST", "/v1/subscriptions", customer=session["customer"],
                                 items=[{"plan": session["price"]}],
                                 metadata=session["subscription_metadata"])
        session.update(status="complete", payment_status="paid",
                       subscription=subscription["id"])
        return dict(session)


def _form(request: Request) -> dict:
    return dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))


def _missing() -> dict:
    return {"error": {"type": "invalid_request_error", "message": "No such session"}}


def _flatten(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: a[b][0][c]=v."""
    pairs = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            pairs += _flatten(value, name)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                pairs += (_flatten(item, f"{name}[{index}]") if isinstance(item, dict)
                          else [(f"{name}[{index}]", str(item))])
        else:
            pairs.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
    return pairs


@dataclass
class StripeEvents:
    """Events as Stripe sends them, signed with the test endpoint's secret."""

    secret: str = WEBHOOK_SECRET

    def build(self, event_type: str, obj: dict, *, event_id: str | None = None,
              created: int | None = None) -> dict:
        return {"id": event_id or f"evt_{secrets.token_hex(12)}", "object": "event",
                "api_version": "2026-10-28.endive", "created": created or int(time.time()),
                "livemode": False, "pending_webhooks": 1, "type": event_type,
                "data": {"object": obj}}

    def sign(self, payload: str, secret: str | None = None) -> str:
        import stripe

        return stripe.WebhookSignature.generate_signature_header(payload, secret or self.secret)

    def post(self, client, event: dict, *, secret: str | None = None,
             path: str = "/billing/stripe/webhook"):
        """POST the event the way Stripe does; returns the response."""
        payload = json.dumps(event)
        return client.post(path, data=payload, content_type="application/json",
                           headers={"Stripe-Signature": self.sign(payload, secret)})


@pytest.fixture(scope="session")
def localstripe_server():
    server = LocalStripe()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stripe_server(localstripe_server):
    """A front for this test (see the module), on an emptied localstripe."""
    localstripe_server.flush()
    front = StripeFront(backend=localstripe_server.url)
    httpd = make_server("127.0.0.1", 0, front.wsgi_app, threaded=True)
    front.url = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              name="stripe-front", daemon=True)
    thread.start()
    try:
        yield front
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def stripe_config(stripe_server) -> dict:
    """Settings for ``make_app(**stripe_config)``: the app's Stripe client on the test server."""
    return {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_API_BASE": stripe_server.url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def stripe_events() -> StripeEvents:
    return StripeEvents()
