"""The real sentry-sdk reports unhandled errors to a local endpoint standing in for Sentry:
with the request id the user was shown, the workspace and user ids, the environment and
release — and nothing a person or an attacker could use (no e-mail, IP, credentials, body)."""

import pytest
import sentry_sdk

from qrplatform import jobs
from qrplatform.extensions import csrf
from qrplatform.extensions import db as database

from .conftest import bearer_token, envelope_items, signed_in_client

SECRET_EMAIL = "sentry.subject@example.org"
PASSWORD = "correct horse battery"
CLIENT_IP = "203.0.113.41"
COOKIE_VALUE = "cookie-secret-value-123"
ENVELOPE_PATH = "/api/1/envelope/"


def _explode_in_api():
    from flask import g

    # The kind of message real code writes: it names the person and the credential.
    raise RuntimeError(f"charging {g.user.email} failed with {g.get('presented_token')}")


def _explode_in_page():
    from flask import g

    raise LookupError(f"no invoice for {g.user.email}")


@pytest.fixture
def sentry_app(make_app, sentry_dsn, reset_sentry):
    app = make_app(SENTRY_DSN=sentry_dsn, QRP_ENVIRONMENT="staging",
                   QRP_RELEASE="qrplatform@2026.11.28-test", SENTRY_TRACES_SAMPLE_RATE=0.0)
    app.add_url_rule("/api/v1/test-explode", "test_explode_api", _explode_in_api)
    app.add_url_rule("/test-explode", "test_explode_page", csrf.exempt(_explode_in_page),
                     methods=["POST"])

    @app.before_request
    def remember_presented_token():
        from flask import g, request

        header = request.headers.get("Authorization", "")
        g.presented_token = header[7:] if header.startswith("Bearer ") else None

    return app


def _error_events(capture_server) -> list[dict]:
    sentry_sdk.flush(timeout=5)
    requests = capture_server.wait_for(ENVELOPE_PATH)
    events = [payload for captured in requests for header, payload in
              envelope_items(captured.body) if header.get("type") == "event"]
    assert events, [captured.text()[:300] for captured in requests]
    return events


def _assert_nothing_secret(raw: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in raw, f"{secret!r} leaked into the Sentry envelope"


def test_an_api_error_reaches_sentry_tagged_and_scrubbed_and_the_caller_gets_the_error_shape(
        sentry_app, capture_server, create_user):
    user = create_user(email=SECRET_EMAIL, password=PASSWORD)
    token = bearer_token(user)
    response = sentry_app.test_client().get(
        "/api/v1/test-explode?token=query-secret-456&page=2",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "support-quote-0001",
                 "Cookie": f"session={COOKIE_VALUE}", "X-Forwarded-For": CLIENT_IP},
        environ_base={"REMOTE_ADDR": CLIENT_IP})

    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal_error"
    assert response.json["error"]["request_id"] == "support-quote-0001"

    [event] = _error_events(capture_server)
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == "support-quote-0001"
    assert event["tags"]["workspace_id"] == str(user.personal_workspace_id)
    assert event["tags"]["user_id"] == str(user.id)
    assert event["user"] == {"id": str(user.id)}
    assert event["environment"] == "staging"
    assert event["release"] == "qrplatform@2026.11.28-test"
    assert event["request"]["url"].endswith("/api/v1/test-explode")
    assert "query-secret-456" not in event["request"]["query_string"]
    assert "page=" in event["request"]["query_string"]  # which parameters, not their values
    raw = "".join(captured.text() for captured in capture_server.requests_to(ENVELOPE_PATH))
    _assert_nothing_secret(raw, SECRET_EMAIL, token, token[4:], CLIENT_IP, COOKIE_VALUE,
                           "query-secret-456", PASSWORD)
    assert "Authorization" not in event["request"].get("headers", {}) or \
        token not in str(event["request"]["headers"])


def test_a_page_error_reaches_sentry_and_the_person_sees_the_error_page_with_the_request_id(
        sentry_app, capture_server, create_user):
    user = create_user(email=SECRET_EMAIL, password=PASSWORD)
    client = signed_in_client(sentry_app, user, PASSWORD)
    capture_server.clear()
    response = client.post("/test-explode", data={"password": "form-password-789",
                                                  "note": SECRET_EMAIL},
                           headers={"X-Request-ID": "support-quote-0002"},
                           environ_base={"REMOTE_ADDR": CLIENT_IP})

    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong on our side" in page
    assert "support-quote-0002" in page

    [event] = _error_events(capture_server)
    assert event["exception"]["values"][-1]["type"] == "LookupError"
    assert event["tags"]["request_id"] == "support-quote-0002"
    assert event["tags"]["workspace_id"] == str(user.personal_workspace_id)
    assert event["user"] == {"id": str(user.id)}
    assert event["environment"] == "staging"
    assert event["release"] == "qrplatform@2026.11.28-test"
    assert "data" not in event["request"]  # no request body at all
    raw = "".join(captured.text() for captured in capture_server.requests_to(ENVELOPE_PATH))
    _assert_nothing_secret(raw, SECRET_EMAIL, "form-password-789", PASSWORD, CLIENT_IP)
    session_cookie = client.get_cookie("session")
    assert session_cookie is not None
    _assert_nothing_secret(raw, session_cookie.value)


def test_log_lines_before_the_error_travel_as_breadcrumbs_without_secrets(
        sentry_app, capture_server, create_user):
    import logging

    user = create_user(email=SECRET_EMAIL, password=PASSWORD)
    token = bearer_token(user)

    @sentry_app.before_request
    def log_something():
        logging.getLogger("qrplatform.test").info("looking up the customer %s", SECRET_EMAIL)

    sentry_app.test_client().get("/api/v1/test-explode",
                                 headers={"Authorization": f"Bearer {token}"})
    [event] = _error_events(capture_server)
    messages = [crumb.get("message") or "" for crumb in event["breadcrumbs"]["values"]]
    assert any(message.startswith("looking up the customer") for message in messages)
    assert not any(SECRET_EMAIL in message for message in messages)


def test_without_a_dsn_nothing_is_sent(make_app, capture_server, create_user, reset_sentry):
    app = make_app()
    app.add_url_rule("/api/v1/test-explode", "test_explode_api", _explode_in_api)
    user = create_user()
    response = app.test_client().get("/api/v1/test-explode",
                                     headers={"Authorization": f"Bearer {bearer_token(user)}"})
    assert response.status_code == 500
    assert response.json["error"]["request_id"]
    sentry_sdk.flush(timeout=1)
    assert capture_server.requests == []


def test_a_job_that_crashes_reaches_sentry_with_its_job_id_and_a_refusal_does_not(
        sentry_app, capture_server, create_user):
    def rebuild_index(code_id):
        raise OSError(f"index for code {code_id} is corrupt")

    def import_sheet(upload_id):
        raise jobs.JobError("The sheet has no 'url' column.")  # the user's to fix, not a bug

    workspace_id = create_user().personal_workspace_id
    for func in (rebuild_index, import_sheet):
        jobs.register(sentry_app, func)
    with sentry_app.app_context():
        crashed = jobs.enqueue(rebuild_index, 41, workspace_id=workspace_id).id
        jobs.enqueue(import_sheet, 7, workspace_id=workspace_id)
        database.session.commit()  # the inline runner runs both

    [event] = _error_events(capture_server)
    assert event["exception"]["values"][-1]["type"] == "OSError"
    assert event["tags"]["job_id"] == crashed
    assert event["tags"]["job"] == jobs.job_name(rebuild_index)
    assert event["tags"]["workspace_id"] == str(workspace_id)
    assert event["environment"] == "staging"
    assert any(crumb.get("category") == "job" for crumb in event["breadcrumbs"]["values"])


def test_the_traces_sample_rate_comes_from_the_configuration(make_app, sentry_dsn,
                                                             capture_server, create_user,
                                                             reset_sentry):
    app = make_app(SENTRY_DSN=sentry_dsn, SENTRY_TRACES_SAMPLE_RATE=1.0)
    user = create_user(email=SECRET_EMAIL)
    response = app.test_client().get("/api/v1/me", headers={
        "Authorization": f"Bearer {bearer_token(user)}", "X-Request-ID": "traced-0001"})
    assert response.status_code == 200
    sentry_sdk.flush(timeout=5)
    [transaction] = [payload for captured in capture_server.wait_for(ENVELOPE_PATH)
                     for header, payload in envelope_items(captured.body)
                     if header.get("type") == "transaction"]
    assert transaction["transaction"] == "/api/v1/me"
    assert transaction["tags"]["request_id"] == "traced-0001"
    assert transaction["user"] == {"id": str(user.id)}
    raw = "".join(captured.text() for captured in capture_server.requests_to(ENVELOPE_PATH))
    _assert_nothing_secret(raw, SECRET_EMAIL)
