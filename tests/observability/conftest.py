"""Helpers for the observability tests: apps with Sentry, Mixpanel or CloudWatch switched on,
each pointed at a local endpoint where the real client library does the talking."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token


def envelope_items(raw: bytes) -> list[tuple[dict, dict]]:
    """A Sentry envelope: a header line, then (item header, item payload) line pairs."""
    lines = [line for line in raw.split(b"\n") if line.strip()]
    items = []
    for header_line, payload_line in zip(lines[1::2], lines[2::2], strict=False):
        items.append((json.loads(header_line), json.loads(payload_line)))
    return items


def signed_in_client(app, user, password: str = DEFAULT_PASSWORD):
    """A test client of ``app`` signed in through the real login form."""
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": password,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def bearer_token(user, workspace_id: int | None = None) -> str:
    from qrplatform.auth import services

    _token, plain = services.create_token(user, workspace_id or user.personal_workspace_id,
                                          "observability tests")
    return plain


@pytest.fixture
def sentry_dsn(capture_server) -> str:
    netloc = urlsplit(capture_server.url).netloc
    return f"http://publickey@{netloc}/1"


@pytest.fixture
def reset_sentry():
    """sentry_sdk is global to the process: leave it switched off after the test."""
    import sentry_sdk

    yield
    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def mixpanel_config(capture_server) -> dict:
    """Settings for an app whose product analytics go to the capture server, sent on flush."""
    # Mixpanel answers {"status": 1}; its client treats anything else as a failure.
    capture_server.respond("/track", status=200, body={"status": 1})
    return {"MIXPANEL_TOKEN": "mixpanel-project-token", "MIXPANEL_API_HOST": capture_server.url,
            "QRP_MIXPANEL_FLUSH_INTERVAL": 0, "QRP_MIXPANEL_SCAN_WINDOW": 0}


def mixpanel_events(capture_server) -> list[dict]:
    """Every event the Mixpanel client posted to /track (form field ``data``, a JSON list)."""
    sent = []
    for captured in capture_server.requests_to("/track", "POST"):
        sent.extend(json.loads(captured.form()["data"]))
    return sent
