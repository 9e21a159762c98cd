"""Helpers for the webhook tests: an app allowed to call receivers on 127.0.0.1 with quick
retries, endpoints registered through the API, and the delayed jobs (retries, windows) run."""

from __future__ import annotations

import pytest
from teams.conftest import add_member  # noqa: F401  (a fixture: members in each role)

from qrplatform.events import outbox

# Retries come after 50 ms instead of seconds to hours: three retries, four attempts in all.
QUICK_RETRIES = [0.05, 0.05, 0.05]


@pytest.fixture
def runner(app):
    """The inline job runner of the test app, with no delayed job left from another test."""
    runner = app.extensions["qrp.jobs.runner"]
    runner.delayed.clear()
    yield runner
    runner.delayed.clear()


@pytest.fixture
def local_hooks(app, monkeypatch, runner):
    """The app may call receivers on 127.0.0.1 (a setting only tests and intranets use),
    retries are quick, and a request waits 3 s at most."""
    monkeypatch.setitem(app.config, "QRP_NETGUARD_ALLOW_NETWORKS", ["127.0.0.0/8"])
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_RETRY_SCHEDULE", QUICK_RETRIES)
    monkeypatch.setitem(app.config, "QRP_WEBHOOK_TIMEOUT", 3)
    return app


def run_delayed(runner, rounds: int = 50) -> int:
    """Run delayed jobs (retries, closing windows) as their time comes, until none is left."""
    total = 0
    for _ in range(rounds):
        ran = runner.run_delayed()
        if not ran:
            return total
        total += ran
    raise AssertionError(f"delayed jobs still coming after {rounds} rounds")


def register(caller, url: str, events=("qr.*",), **fields) -> dict:
    response = caller.post("/api/v1/webhooks", json={"url": url, "events": list(events),
                                                     **fields})
    assert response.status_code == 201, response.json
    return response.json


def make_code(caller, name: str = "Poster") -> dict:
    response = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "name": name,
        "destination": "https://example.com/landing"})
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def owner(api):
    return api()


@pytest.fixture
def hooked(owner, webhook_receiver, local_hooks):
    """The owner's workspace with an endpoint on the receiver for every qr event; the
    receiver knows the secret."""
    endpoint = register(owner, webhook_receiver.url)
    webhook_receiver.secret = endpoint["secret"]
    return endpoint


def relay() -> int:
    """The outbox to the receivers (in-process: the webhooks group makes deliveries and the
    inline runner sends them after its commit)."""
    return outbox.drain()
