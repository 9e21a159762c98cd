"""Helpers for the analytics tests: codes made through the API, scans through the real redirect."""

from __future__ import annotations

import pytest

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Mobile Safari/537.36")
DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
WHATSAPP = "WhatsApp/2.23.20.0 A"


def make_code(caller, name: str = "Poster", **fields) -> dict:
    body = {"type": "url", "kind": "dynamic", "name": name,
            "destination": "https://example.com/landing", **fields}
    response = caller.post("/api/v1/qr-codes", json=body)
    assert response.status_code == 201, response.json
    return response.json


def scan(client, code: dict, *, ip: str = "203.0.113.7", agent: str | None = IPHONE,
         method: str = "GET", **headers):
    if agent is not None:
        headers["User-Agent"] = agent
    response = client.open(f"/r/{code['short_code']}", method=method, headers=headers,
                           environ_base={"REMOTE_ADDR": ip})
    assert response.status_code in (301, 302, 307, 308), response.status_code
    return response


@pytest.fixture
def stream(app):
    """The app's stream buffer, emptied first; ``stream.flush()`` hands events to ingest."""
    buffer = app.extensions["qrp.stream"]
    with buffer._lock:
        buffer._items.clear()
    return buffer


@pytest.fixture
def owner(api):
    return api()
