"""Background work: CSV exports (with progress, stored for download), the retention purge and
the hourly anomaly detection. Jobs take plain values, never ORM objects."""

from __future__ import annotations

import io
import logging
import secrets
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Date, delete, func, select, text

from qrp_analytics import ingest, retention
from qrp_analytics.models import (
    COUNT_COLUMNS,
    AnalyticsSettings,
    Anomaly,
    CodeBreakdown,
    CodeDaily,
    CodeHourly,
    CodeWeekly,
    DailyVisitor,
    MarkedTestDevice,
    Scan,
    WorkspaceBreakdown,
    WorkspaceHourly,
)
from qrplatform import csvfiles, jobs
from qrplatform.auth.models import Workspace
from qrplatform.extensions import db
from qrplatform.storage import PRIVATE_PREFIX, storage
from qrplatform.tenancy import unscoped

log = logging.getLogger(__name__)

EXPORT_CHUNK = 5000
SCAN_COLUMNS = ("occurred_at", "code_id", "code_name", "method", "classification", "reason",
                "outcome", "counted", "unique", "country", "language", "device", "os",
                "browser", "referrer_domain")


def _days(first_day: str, last_day: str):
    """The days as a period of the workspace's time zone (the job runs in its scope)."""
    from qrp_analytics.services import Period, time_zone_name

    return Period(date.fromisoformat(first_day), date.fromisoformat(last_day), "day",
                  time_zone_name())


def _export_csv(name: str, header, rows, total: int, noun: str) -> dict:
    """Write ``rows`` as CSV with progress every EXPORT_CHUNK rows, then store the file (on
    disk past 64 MB while it is written: ten million scans make gigabytes)."""
    # Private: downloaded through the job's files, by the workspace only.
    key = f"{PRIVATE_PREFIX}exports/analytics/{secrets.token_urlsafe(24)}/{name}"
    with storage().new_file(key, "text/csv; charset=utf-8") as buffer:
        text = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
        writer = csvfiles.writer(text)
        writer.writerow(header)
        done = 0
        for row in rows:
            writer.writerow(row)
            done += 1
            if done % EXPORT_CHUNK == 0:
                jobs.progress(done, total, f"{done:,} of {total:,} {noun}")
        text.flush()
        text.detach()
    jobs.progress(done, total, f"{done:,} {noun} exported")
    return {**jobs.produced_file("csv", key), "rows": done}


class _Names:
    """Code names through the qr plugin's services, looked up once per code."""

    def __init__(self):
        self.cache: dict[int, str] = {}

    def __call__(self, code_id: int) -> str:
        if code_id not in self.cache:
            from qrp_analytics.services import code_name

            self.cache[code_id] = code_name(code_id)
        return self.cache[code_id]


def export_scans(first_day: str, last_day: str) -> dict:
    """CSV of the workspace's scans in [first_day, last_day]: privacy-safe columns only (no
    user agent, no hashes; referrers as domains). The days are the workspace's time zone's,
    and so are the times written (with their UTC offset)."""
    days = _days(first_day, last_day)
    bounds = (Scan.occurred_at >= days.start, Scan.occurred_at < days.end)
    total = db.session.scalar(select(func.count()).select_from(Scan).where(*bounds)) or 0
    jobs.progress(0, total, "Reading scans")
    names = _Names()
    query = select(Scan).where(*bounds).order_by(Scan.occurred_at, Scan.event_id)
    rows = ([
        scan.occurred_at.astimezone(days.tz).isoformat(),
        scan.code_id, names(scan.code_id), scan.method, scan.classification,
        scan.reason or "", scan.outcome, int(scan.counted), int(scan.is_unique),
        scan.country or "", scan.language or "", scan.device or "", scan.os or "",
        scan.browser or "", scan.referrer_domain or ""]
        for scan in db.session.scalars(query.execution_options(yield_per=EXPORT_CHUNK)))
    return _export_csv(f"scans-{first_day}-to-{last_day}.csv", SCAN_COLUMNS, rows, total,
                       "scans")


def export_aggregates(first_day: str, last_day: str) -> dict:
    """CSV of daily counts per code in [first_day, last_day] (days of the workspace's time
    zone, as the rollups keep them)."""
    first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
    bounds = (CodeDaily.day >= first, CodeDaily.day <= last)
    total = db.session.scalar(select(func.count()).select_from(CodeDaily).where(*bounds)) or 0
    jobs.progress(0, total, "Reading daily counts")
    names = _Names()
    rows = ([row.day.isoformat(), row.code_id, names(row.code_id),
             *[getattr(row, c) for c in COUNT_COLUMNS]]
            for row in db.session.scalars(select(CodeDaily).where(*bounds)
                                          .order_by(CodeDaily.day, CodeDaily.code_id)))
    return _export_csv(f"daily-counts-{first_day}-to-{last_day}.csv",
                       ("day", "code_id", "code_name", *COUNT_COLUMNS), rows, total, "rows")


# -- retention ------------------------------------------------------------------------------------

def _purge_weeks(workspace_id: int, cutoff: date) -> int:
    """Weeks wholly before the cutoff go; the week it falls in is summed again from the daily
    rows that remain, so a range over it reads the same from the weeks as from the days."""
    first_kept = ingest.week_of(cutoff)
    removed = db.session.execute(delete(CodeWeekly).where(
        CodeWeekly.workspace_id == workspace_id, CodeWeekly.week < first_kept)).rowcount
    if first_kept < cutoff:
        db.session.execute(delete(CodeWeekly).where(CodeWeekly.workspace_id == workspace_id,
                                                    CodeWeekly.week == first_kept))
        kept = db.session.execute(
            select(CodeDaily.code_id, *[func.sum(getattr(CodeDaily, c)) for c in COUNT_COLUMNS])
            .where(CodeDaily.workspace_id == workspace_id, CodeDaily.day >= first_kept,
                   CodeDaily.day < first_kept + timedelta(days=7))
            .group_by(CodeDaily.code_id)).all()
        db.session.add_all([CodeWeekly(workspace_id=workspace_id, code_id=row[0],
                                       week=first_kept,
                                       **dict(zip(COUNT_COLUMNS, row[1:], strict=True)))
                            for row in kept])
    return removed


def purge_expired(now: str | None = None) -> dict:
    """Delete what each workspace's retention no longer allows (raw scans and rollups), the
    visitor hashes of days gone by, and old test-device marks. A system job (all workspaces)."""
    moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    removed = {"scans": 0, "rollups": 0, "visitors": 0, "partitions": 0}
    with unscoped():
        workspace_ids = sorted({*db.session.scalars(select(CodeDaily.workspace_id).distinct()),
                                *db.session.scalars(select(WorkspaceHourly.workspace_id)
                                                    .distinct())})
        settings = {s.workspace_id: s for s in db.session.scalars(select(AnalyticsSettings))}
        workspaces = {w.id: w for w in db.session.scalars(
            select(Workspace).where(Workspace.id.in_(workspace_ids)))}
        for done, workspace_id in enumerate(workspace_ids):
            workspace = workspaces.get(workspace_id)
            if workspace is None:
                continue
            chosen = settings.get(workspace_id)
            days = retention.retention_days(chosen.retention_days if chosen else None,
                                            workspace.plan)
            cutoff = (moment - timedelta(days=days)).replace(hour=0, minute=0, second=0,
                                                              microsecond=0)
            removed["scans"] += db.session.execute(delete(Scan).where(
                Scan.workspace_id == workspace_id, Scan.occurred_at < cutoff)).rowcount
            for model, column in ((CodeHourly, CodeHourly.hour),
                                  (WorkspaceHourly, WorkspaceHourly.hour),
                                  (CodeDaily, CodeDaily.day),
                                  (CodeBreakdown, CodeBreakdown.day),
                                  (WorkspaceBreakdown, WorkspaceBreakdown.day),
                                  (Anomaly, Anomaly.started_at)):
                limit = cutoff.date() if isinstance(column.type, Date) else cutoff
                removed["rollups"] += db.session.execute(delete(model).where(
                    model.workspace_id == workspace_id, column < limit)).rowcount
            removed["rollups"] += _purge_weeks(workspace_id, cutoff.date())
            db.session.commit()
            jobs.progress(done + 1, len(workspace_ids), "Applying retention")
        # Visitor hashes only tell today's repeats from first scans; yesterday's stay for
        # late events, anything older goes.
        removed["visitors"] = db.session.execute(delete(DailyVisitor).where(
            DailyVisitor.day < (moment - timedelta(days=1)).date())).rowcount
        db.session.execute(delete(MarkedTestDevice).where(MarkedTestDevice.day < moment.date()))
        db.session.commit()
    removed["partitions"] = drop_old_partitions(moment)
    return removed


def drop_old_partitions(moment: datetime) -> int:
    """Drop monthly partitions that lie wholly before the longest retention (PostgreSQL)."""
    if db.engine.dialect.name != "postgresql":
        return 0
    horizon = (moment - timedelta(days=retention.LONGEST_RETENTION_DAYS)).date()
    dropped = 0
    with db.engine.begin() as conn:
        names = conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'analytics_scans'"
        )).scalars()
        for name in names:
            try:
                year, month = int(name[6:10]), int(name[11:13])
            except ValueError:
                continue
            if ingest.next_month(date(year, month, 1)) <= horizon:
                conn.execute(text(f'DROP TABLE {ingest.PARTITION_SCHEMA}."{name}"'))
                dropped += 1
    if dropped:
        ingest.forget_partitions()
    return dropped


def detect_anomalies(now: str | None = None) -> dict:
    """Run the detector over every workspace's codes and send the alerts (a system job)."""
    from qrp_analytics import alerts

    moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    return alerts.run(moment)
