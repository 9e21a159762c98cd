"""Logs: one JSON line per request and per job on stdout, the same lines in CloudWatch Logs
(watchtower, talking to moto's CloudWatch Logs server), never a secret or a raw IP."""

import json
import logging
import subprocess
import sys
import time
import uuid

import pytest

from qrplatform import PROJECT_ROOT, jobs
from qrplatform.extensions import db as database

CLIENT_IP = "203.0.113.9"

# Runs in a process of its own, so that what reaches stdout is exactly what production prints.
REQUEST_SCRIPT = """
import logging, sys
from qrplatform import create_app
from qrplatform.auth import services
from qrplatform.extensions import db

app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "QRP_PLUGINS": ["qr"],
                  "SECRET_KEY": "x", "REDIS_URL": None, "KAFKA_BOOTSTRAP_SERVERS": None,
                  "QRP_EVENTS_RELAY_THREAD": False, "QRP_STREAM_BACKGROUND": False})
with app.app_context():
    user, workspace = services.signup("logs.subject@example.com", "correct horse battery", "L")
    _token, plain = services.create_token(user, workspace.id, "logs")
    db.session.commit()
    print("IDS", user.id, workspace.id, plain, file=sys.stderr)
client = app.test_client()
client.get("/api/v1/me", headers={"Authorization": "Bearer " + plain,
                                  "X-Request-ID": "log-line-0001"},
           environ_base={"REMOTE_ADDR": "203.0.113.9"})
logging.getLogger("qrplatform.example").warning(
    "client 203.0.113.9 (2001:db8::7) retried with Bearer %s against "
    "postgresql://app:db-password@db/qr", plain)
"""


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_request_prints_one_json_line_without_secrets_or_addresses(app, db,
                                                                         database_url):
    result = subprocess.run([sys.executable, "-c", REQUEST_SCRIPT, database_url],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    ids = next(line for line in result.stderr.splitlines() if line.startswith("IDS "))
    _, user_id, workspace_id, token = ids.split()
    lines = json_lines(result.stdout)

    [request_line] = [line for line in lines if line["logger"] == "qrplatform.access"
                      and line["request_id"] == "log-line-0001"]
    assert request_line["route"] == "/api/v1/me"
    assert request_line["method"] == "GET"
    assert request_line["status"] == 200
    assert request_line["workspace_id"] == int(workspace_id)
    assert request_line["user_id"] == int(user_id)
    assert isinstance(request_line["duration_ms"], float)
    assert request_line["level"] == "INFO" and request_line["time"]

    [warning] = [line for line in lines if line["logger"] == "qrplatform.example"]
    assert warning["message"].startswith("client [redacted] ([redacted]) retried with Bearer")
    assert "postgresql://app:[redacted]@db/qr" in warning["message"]
    for secret in (token, token[4:], CLIENT_IP, "2001:db8::7", "db-password"):
        assert secret not in result.stdout


def test_a_job_run_prints_one_json_line_with_its_outcome_and_duration(app, db, caplog):
    def tidy_exports(workspace_id):
        return {"removed": 3}

    jobs.register(app, tidy_exports)
    try:
        with app.app_context():
            job_id = jobs.enqueue(tidy_exports, 7, description="tidy").id
            with caplog.at_level(logging.INFO, logger="qrplatform.jobs.run"):
                database.session.commit()  # the inline runner runs it after the commit
    finally:
        jobs.registered(app).pop(jobs.job_name(tidy_exports))
    [record] = [r for r in caplog.records if r.name == "qrplatform.jobs.run"]
    assert (record.job_id, record.job, record.outcome, record.attempt) == (
        job_id, jobs.job_name(tidy_exports), "finished", 1)
    assert record.duration_ms >= 0

    from qrplatform.telemetry import RedactingJsonFormatter

    line = json.loads(RedactingJsonFormatter().format(record))
    assert line["job_id"] == job_id and line["outcome"] == "finished"


@pytest.fixture
def cloudwatch_group(moto_server, monkeypatch):
    """A fresh log group name; boto3 finds moto's credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_server.secret_access_key)
    group = f"/qrplatform/test-{uuid.uuid4().hex[:10]}"
    yield group
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_qrp_cloudwatch_group", None) == group:
            root.removeHandler(handler)
            handler.close()


def test_request_lines_reach_cloudwatch_logs(make_app, db, moto_server, cloudwatch_group):
    app = make_app(CLOUDWATCH_LOG_GROUP=cloudwatch_group,
                   QRP_CLOUDWATCH_ENDPOINT_URL=moto_server.url,
                   QRP_CLOUDWATCH_REGION=moto_server.region, QRP_CLOUDWATCH_SEND_INTERVAL=1)
    response = app.test_client().get("/healthz", headers={"X-Request-ID": "cloudwatch-0001"},
                                     environ_base={"REMOTE_ADDR": CLIENT_IP})
    assert response.status_code == 200
    logging.getLogger("qrplatform.example").warning("seen from %s", CLIENT_IP)
    [handler] = [h for h in logging.getLogger().handlers
                 if getattr(h, "_qrp_cloudwatch_group", None) == cloudwatch_group]
    handler.flush()

    logs = moto_server.client("logs")
    deadline = time.monotonic() + 10
    while True:
        found = logs.filter_log_events(logGroupName=cloudwatch_group)["events"]
        messages = [json.loads(event["message"]) for event in found]
        if any(m.get("request_id") == "cloudwatch-0001" for m in messages) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [request_line] = [m for m in messages if m.get("request_id") == "cloudwatch-0001"]
    assert request_line["logger"] == "qrplatform.access"
    assert request_line["route"] == "/healthz" and request_line["status"] == 200
    [warning] = [m for m in messages if m["logger"] == "qrplatform.example"]
    assert warning["message"] == "seen from [redacted]"
    streams = logs.describe_log_streams(logGroupName=cloudwatch_group)["logStreams"]
    assert len(streams) == 1  # one stream per process, not one per logger
    assert CLIENT_IP not in json.dumps(messages)


def test_api_tokens_are_redacted_but_names_that_look_alike_are_not():
    import secrets

    from qrplatform.redaction import redact_text

    token = "qrp_" + secrets.token_urlsafe(32)
    text = redact_text(f"token {token} in job qrp_analytics.jobs:detect_anomalies")
    assert token not in text and "[redacted]" in text
    assert "qrp_analytics.jobs:detect_anomalies" in text


def test_a_request_line_is_written_directly_as_the_general_path_would_write_it():
    """The request line skips the general formatter's search through the record; the object
    it writes is the general path's own, masking included."""
    from qrplatform import telemetry

    formatter = telemetry.RedactingJsonFormatter(release="r-1")
    fields = {"request_id": "from 203.0.113.9", "method": "GET", "route": "/r/<short_code>",
              "status": 302, "workspace_id": 7, "user_id": None, "sample_rate": 0.01,
              "session_token": "abc"}
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    telemetry.access_log.addHandler(handler)
    try:
        telemetry.access_log.setLevel(logging.INFO)
        telemetry.log_request(started=None, **fields)
    finally:
        telemetry.access_log.removeHandler(handler)
        telemetry.access_log.setLevel(logging.NOTSET)
    [record] = records
    direct = formatter.format(record)
    delattr(record, telemetry.REQUEST_FIELDS)
    general = formatter.format(record)
    assert json.loads(direct) == json.loads(general)
    line = json.loads(direct)
    assert list(line)[:5] == ["time", "level", "logger", "message", "release"]
    assert (line["request_id"], line["session_token"], line["duration_ms"]) == (
        "from [redacted]", "[redacted]", None)
    assert line["route"] == "/r/<short_code>" and line["sample_rate"] == 0.01
    assert CLIENT_IP not in direct


def test_kafka_pythons_slow_step_warnings_are_left_out_and_its_other_warnings_kept(app, caplog):
    """A background consumer waits for a CPU in every burst (QRP_BACKGROUND_NICE): the
    library's "blocking the event loop" warnings are noise there; its other lines are not."""
    selector = logging.getLogger("kafka.net.selector")
    selector.warning("Task %r ran for %.3fs (>%.3fs threshold). It is blocking the event loop "
                     "-- likely a tight sync loop inside a coroutine. Other pollers will time "
                     "out.", "<Task>", 0.382, 0.1)
    selector.warning("Wakeup socket returned empty. Rebuilding.")
    assert [r.getMessage() for r in caplog.records if r.name == "kafka.net.selector"] == [
        "Wakeup socket returned empty. Rebuilding."]
