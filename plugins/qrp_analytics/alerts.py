"""Anomalies found by the hourly run are recorded, and alert rules turn them into e-mails or
SMS through the notify backend, at most once per rule and code within the rule's cooldown."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select

from qrp_analytics import anomalies
from qrp_analytics.models import AlertFiring, AlertRule, Anomaly, CodeHourly
from qrplatform import notify
from qrplatform.extensions import db
from qrplatform.tenancy import tenant_scope, unscoped

log = logging.getLogger(__name__)

KIND_LABELS = {"spike": "Spike", "drop": "Drop", "bot_burst": "Bot burst"}


def run(now: datetime) -> dict:
    """Detect anomalies in every workspace with recent scans and send the alerts due."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=anomalies.history_hours(end))
    with unscoped():
        workspace_ids = list(db.session.scalars(
            select(CodeHourly.workspace_id).where(CodeHourly.hour >= start).distinct()))
    summary = {"workspaces": 0, "anomalies": 0, "alerts": 0}
    for workspace_id in sorted(workspace_ids):
        with tenant_scope(workspace_id):
            try:
                found = detect_workspace(end)
                summary["anomalies"] += len(found)
                summary["alerts"] += send_alerts(found, end)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("anomaly detection failed for workspace %s", workspace_id)
                continue
        summary["workspaces"] += 1
    return summary


def detect_workspace(end: datetime) -> list[Anomaly]:
    """Run the detector on the current workspace's codes, and make this hour's forecasts of
    them (read by the code pages and the API); returns the new anomalies."""
    from qrp_analytics.services import hourly_matrix, store_forecasts

    start = end - timedelta(hours=anomalies.history_hours(end))
    code_ids = sorted(db.session.scalars(
        select(CodeHourly.code_id).where(CodeHourly.hour >= start, CodeHourly.hour < end)
        .distinct()))
    if not code_ids:
        return []
    humans = hourly_matrix(code_ids, start, end, "humans")
    others = hourly_matrix(code_ids, start, end, "scans") - humans
    new = []
    for finding in anomalies.detect(humans, end, others):
        anomaly = record(code_ids[finding.series], finding, end)
        if anomaly is not None:
            new.append(anomaly)
    db.session.flush()
    try:
        store_forecasts(code_ids, end)
    except Exception:  # a page makes a missing forecast itself
        log.exception("forecasts could not be stored")
    return new


def record(code_id: int, finding: anomalies.Finding, now: datetime) -> Anomaly | None:
    """Store a finding; one that continues an anomaly of the same kind (within the merge
    window) updates it instead, so an ongoing drop is one anomaly and one alert."""
    window_start = finding.started_at - anomalies.MERGE_WINDOW
    existing = db.session.scalar(
        select(Anomaly).where(
            Anomaly.code_id == code_id, Anomaly.kind == finding.kind,
            or_(Anomaly.started_at >= window_start, Anomaly.detected_at >= window_start,
                Anomaly.ended_at >= window_start))
        .order_by(Anomaly.started_at.desc()).limit(1))
    if existing is not None:
        if abs(finding.score) > abs(existing.score) or finding.kind == "drop":
            existing.observed, existing.expected = finding.observed, finding.expected
            existing.score, existing.message = finding.score, finding.message
            if finding.kind == "drop" and finding.ended_at is None:
                existing.ended_at = None
        return None
    anomaly = Anomaly(code_id=code_id, kind=finding.kind, started_at=finding.started_at,
                      ended_at=finding.ended_at, detected_at=now, observed=finding.observed,
                      expected=finding.expected, score=finding.score, message=finding.message)
    db.session.add(anomaly)
    return anomaly


def send_alerts(found: list[Anomaly], now: datetime) -> int:
    if not found:
        return 0
    from qrp_analytics.services import code_name

    db.session.flush()
    rules = list(db.session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True))))
    sent = 0
    for anomaly in found:
        for rule in rules:
            if rule.kind != anomaly.kind or rule.code_id not in (None, anomaly.code_id):
                continue
            if _cooling_down(rule, anomaly.code_id, now):
                continue
            name = code_name(anomaly.code_id)
            subject = f"{KIND_LABELS[anomaly.kind]} on “{name}”"
            if rule.channel == "email":
                message = notify.send_email(rule.recipient, "analytics_alert", subject=subject,
                                            workspace_id=anomaly.workspace_id,
                                            anomaly=anomaly, code_name=name,
                                            kind_label=KIND_LABELS[anomaly.kind])
            else:
                message = notify.send_sms(rule.recipient, f"QR Platform: {subject}. "
                                          f"{anomaly.message}", workspace_id=anomaly.workspace_id)
            db.session.add(AlertFiring(rule_id=rule.id, anomaly_id=anomaly.id,
                                       code_id=anomaly.code_id, notification_id=message.id,
                                       fired_at=now))
            db.session.flush()
            sent += 1
    return sent


def _cooling_down(rule: AlertRule, code_id: int, now: datetime) -> bool:
    since = now - timedelta(hours=rule.cooldown_hours)
    return db.session.scalar(
        select(AlertFiring.id).where(AlertFiring.rule_id == rule.id,
                                     AlertFiring.code_id == code_id,
                                     AlertFiring.fired_at > since).limit(1)) is not None
