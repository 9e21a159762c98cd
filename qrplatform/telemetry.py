"""Logs: JSON lines on stdout, one per request (request id, workspace, user, route, status,
duration) and one per job run (written by ``qrplatform.jobs``); with CLOUDWATCH_LOG_GROUP, the
same lines go to CloudWatch Logs through watchtower.

Never a secret or a raw IP in a log line: every line passes through ``qrplatform.redaction``
when it is formatted (handlers format, so other handlers such as pytest's see the record as
it was logged).
"""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

from qrplatform.redaction import REDACTED, is_secret_key, redact, redact_text

access_log = logging.getLogger("qrplatform.access")
# The attribute of a request line's record holding its fields (RedactingJsonFormatter).
REQUEST_FIELDS = "qrp_request_fields"


class RequestContextFilter(logging.Filter):
    """Stamp every record logged during a request with its request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not hasattr(record, "request_id"):
            record.request_id = g.get("request_id")
        return True


class SlowKafkaStepFilter(logging.Filter):
    """kafka-python 3 warns when one step of its I/O loop took more than 0.1 s ("It is
    blocking the event loop"), which it reads as a bug of its own. A consumer at the lowest
    CPU priority (QRP_BACKGROUND_NICE) waits that long for a CPU in every burst of scans, so
    these lines said nothing and buried the ones that do; they are left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "blocking the event loop" not in record.getMessage()


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line, with secrets and IP addresses masked.

    The request line (``log_request``) is written straight from its known fields: the same
    object, in a third of the time of the general path (which looks through every attribute
    of the record and walks the whole object to mask it). Its strings are masked like any."""

    def __init__(self, release: str | None = None):
        super().__init__(
            "{asctime}{levelname}{name}{message}", style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"release": release} if release else None,
        )
        self._release = release
        self._second: tuple[int, str] = (-1, "")

    def process_log_record(self, log_data: dict) -> dict:
        return redact(super().process_log_record(log_data))

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, REQUEST_FIELDS, None)
        if fields is None:
            return super().format(record)
        line = {"time": self._time(record), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        if self._release:
            line["release"] = self._release
        for key, value in fields.items():
            if is_secret_key(key):
                value = REDACTED
            elif isinstance(value, str):
                value = redact_text(value)
            line[key] = value
        return json.dumps(line, default=str)

    def _time(self, record: logging.LogRecord) -> str:
        """``formatTime``'s text (what the general path writes), its seconds made once per
        second."""
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)  # one assignment: threads see a matching pair
        return self.default_msec_format % (text, record.msecs)


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_qrp", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler._qrp = True
    handler.setFormatter(RedactingJsonFormatter(app.config.get("QRP_RELEASE")))
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    root.setLevel(app.config.get("QRP_LOG_LEVEL", "INFO"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("kafka.net.selector").addFilter(SlowKafkaStepFilter())
    # Alembic, imported only when a migration runs, announces each of its plugins.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Our own CloudWatch calls would otherwise log about themselves, line by line.
    logging.getLogger("botocore").setLevel(logging.WARNING)


def configure_cloudwatch(app: Flask) -> logging.Handler | None:
    """Add a watchtower handler for CLOUDWATCH_LOG_GROUP to the root logger (once per group).

    Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an
    instance or task role). The handler sends from a thread every QRP_CLOUDWATCH_SEND_INTERVAL
    seconds and on exit.
    """
    group = app.config.get("CLOUDWATCH_LOG_GROUP")
    if not group:
        return None
    root = logging.getLogger()
    for existing in root.handlers:
        if getattr(existing, "_qrp_cloudwatch_group", None) == group:
            return existing
    import watchtower

    try:
        client = _cloudwatch_client(app)
        handler = watchtower.CloudWatchLogHandler(
            log_group_name=group,
            log_stream_name=app.config["QRP_CLOUDWATCH_STREAM"],
            boto3_client=client,
            send_interval=app.config["QRP_CLOUDWATCH_SEND_INTERVAL"],
            create_log_group=True,
        )
    except Exception as exc:  # no region, no credentials: stdout still has every line
        logging.getLogger(__name__).error(
            "CLOUDWATCH_LOG_GROUP is set but CloudWatch Logs cannot be used: %s: %s",
            type(exc).__name__, exc)
        return None
    handler._qrp_cloudwatch_group = group
    handler.setFormatter(RedactingJsonFormatter(app.config.get("QRP_RELEASE")))
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    return handler


def _cloudwatch_client(app: Flask):
    import boto3

    return boto3.client("logs", region_name=app.config.get("QRP_CLOUDWATCH_REGION"),
                        endpoint_url=app.config.get("QRP_CLOUDWATCH_ENDPOINT_URL"))


def after_fork(app: Flask) -> None:
    """A forked process gets a CloudWatch client of its own: the parent's keeps the
    connections it opened to create the log group. (watchtower resets its queues and threads
    itself, and names a stream per process.)"""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_qrp_cloudwatch_group", None):
            handler.cwl_client = _cloudwatch_client(app)


def _start_timer() -> None:
    g.started_at = time.perf_counter()


def log_request(*, request_id: str | None, method: str, route: str | None, status: int,
                started: float | None, workspace_id: int | None = None,
                user_id: int | None = None, **extra) -> None:
    """The one JSON line of a request (``started``: its ``time.perf_counter()``)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields = {
        "request_id": request_id,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "workspace_id": workspace_id,
        "user_id": user_id,
        **extra,
    }
    access_log.info("request", extra={**fields, REQUEST_FIELDS: fields})


def _log_request(response):
    workspace, user = g.get("workspace"), g.get("user")
    log_request(request_id=g.get("request_id"), method=request.method,
                route=request.url_rule.rule if request.url_rule else None,
                status=response.status_code, started=g.get("started_at"),
                workspace_id=workspace.id if workspace is not None else None,
                user_id=user.id if user is not None else None)
    return response


def init_app(app: Flask) -> None:
    configure_logging(app)
    configure_cloudwatch(app)
    app.before_request(_start_timer)
    app.after_request(_log_request)
