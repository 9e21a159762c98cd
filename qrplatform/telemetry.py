"""Logs: JSON lines on stdout, one per request with its id, workspace, user, route, status and
duration. Never a secret or a raw IP in a log line."""

from __future__ import annotations

import logging
import sys
import time

from flask import Flask, g, request
from pythonjsonlogger.json import JsonFormatter

access_log = logging.getLogger("qrplatform.access")


class RequestContextFilter(logging.Filter):
    """Stamp every record logged during a request with its request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flask import has_request_context

        if has_request_context() and not hasattr(record, "request_id"):
            record.request_id = g.get("request_id")
        return True


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_qrp", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler._qrp = True
    handler.setFormatter(JsonFormatter(
        "{asctime}{levelname}{name}{message}", style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    ))
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    root.setLevel(app.config.get("QRP_LOG_LEVEL", "INFO"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.WARNING)


def _start_timer() -> None:
    g.started_at = time.perf_counter()


def _log_request(response):
    started = g.get("started_at")
    workspace, user = g.get("workspace"), g.get("user")
    access_log.info("request", extra={
        "request_id": g.get("request_id"),
        "method": request.method,
        "route": request.url_rule.rule if request.url_rule else None,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "workspace_id": workspace.id if workspace is not None else None,
        "user_id": user.id if user is not None else None,
    })
    return response


def init_app(app: Flask) -> None:
    configure_logging(app)
    app.before_request(_start_timer)
    app.after_request(_log_request)
