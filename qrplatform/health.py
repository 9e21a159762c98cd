"""/healthz (the process is alive) and /readyz (every configured backend answers)."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from qrplatform.extensions import db

bp = Blueprint("health", __name__)


def _check_database() -> None:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()


def _check_redis() -> None:
    from redis import Redis

    Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=2,
                   socket_timeout=2).ping()


def _check_kafka() -> None:
    current_app.extensions["qrp.events"].sender.check()


def _check_storage() -> None:
    current_app.extensions["qrp.storage"].check()


# (what, the variable that configures it, is it configured?, check)
CHECKS = (
    ("database", "DATABASE_URL", lambda c: True, _check_database),
    ("redis", "REDIS_URL", lambda c: bool(c.get("REDIS_URL")), _check_redis),
    ("kafka", "KAFKA_BOOTSTRAP_SERVERS", lambda c: bool(c.get("KAFKA_BOOTSTRAP_SERVERS")),
     _check_kafka),
    ("storage", "S3_BUCKET", lambda c: bool(c.get("S3_BUCKET")), _check_storage),
)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    from qrplatform.events.outbox import backlog, parked_events
    from qrplatform.events.stream import spool_of

    results, ready = {}, True
    for name, variable, configured, check in CHECKS:
        if not configured(current_app.config):
            results[name] = {"status": "embedded default", "variable": variable}
            continue
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            ready = False
            results[name] = {"status": "unreachable", "variable": variable,
                             "error": f"{variable} is set but {name} cannot be reached: "
                                      f"{type(exc).__name__}: {exc}"[:500]}
        else:
            results[name] = {"status": "ok",
                             "ms": round((time.perf_counter() - started) * 1000, 1)}
    try:
        results["outbox"] = {"backlog": backlog()}
    except Exception:
        results["outbox"] = {"backlog": None}
    try:
        results["outbox"]["parked"] = parked_events()
    except Exception:
        results["outbox"]["parked"] = None
    # Stream events (scans) the broker did not take yet, waiting in the durable spool.
    spool = spool_of()
    if spool is not None:
        try:
            results["stream_spool"] = {"depth": len(spool)}
        except Exception:
            results["stream_spool"] = {"depth": None}
    failing = [name for name, r in results.items() if r.get("status") == "unreachable"]
    body = {"status": "ready" if ready else "not ready", "checks": results}
    if failing:
        body["message"] = "; ".join(results[name]["error"] for name in failing)
    return jsonify(body), 200 if ready else 503
