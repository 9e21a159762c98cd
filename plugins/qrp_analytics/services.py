"""The analytics plugin's rules and queries, shared by the pages, the API and the jobs.

Every read goes through the rollups (the raw scans are only read by exports); every query is
scoped to the current workspace by the core. Days (rollup days, periods, "today", the buckets
of day and week series) are the workspace's time zone's: ingest files each scan under its
local day. Hours are whole UTC hours, shown in local time. Two things stay on the UTC day
because the visitor salt changes at midnight UTC: what counts as a unique scanner, and the
devices marked as test devices.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import current_app, g, has_request_context
from sqlalchemy import delete, func, or_, select, union_all

from qrp_analytics import classify, retention
from qrp_analytics.models import (
    ALERT_KINDS,
    BREAKDOWN_COUNTS,
    CHANNELS,
    COUNT_COLUMNS,
    DIMENSIONS,
    AlertRule,
    AnalyticsSettings,
    Anomaly,
    CodeBreakdown,
    CodeDaily,
    CodeHourly,
    CodeWeekly,
    MarkedTestDevice,
    WorkspaceBreakdown,
    WorkspaceHourly,
)
from qrplatform import jobs, permissions, privacy, quotas
from qrplatform.auth import services as auth_services
from qrplatform.errors import NotFound, ServiceError
from qrplatform.extensions import db
from qrplatform.inputs import DAY_RANGE, FIRST_DAY, LAST_DAY
from qrplatform.sqltypes import as_utc, local_date
from qrplatform.tenancy import current_workspace_id, get_or_404, tenant_scope

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # numpy is imported by the two functions that use it: pages rarely do
    import numpy as np

RANGES = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
DEFAULT_RANGE = "30d"
GRANULARITIES = ("hour", "day", "week")
MAX_RANGE_DAYS = 731
MAX_HOURLY_DAYS = 14
DIMENSION_LABELS = {
    "country": "Countries", "device": "Devices", "os": "Operating systems",
    "browser": "Browsers", "referrer": "Referrers", "language": "Languages",
    "reason": "Bots, previews and HEAD requests by reason", "outcome": "Outcomes",
    "route": "Redirect rules and A/B variants",
    "conversion": "Conversions of A/B variants",
}
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


class InvalidInput(ServiceError):
    status = 422
    code = "validation_error"


# -- periods --------------------------------------------------------------------------------------

def time_zone_name() -> str:
    """The time zone of the workspace in scope, whose days analytics counts (the request's
    workspace, loaded anyway, when it is that one; else looked up)."""
    workspace_id = current_workspace_id()
    if workspace_id is None:
        return "UTC"
    workspace = g.get("workspace") if has_request_context() else None
    if workspace is not None and workspace.id == workspace_id:
        return workspace.time_zone or "UTC"
    return auth_services.workspace_time_zone(workspace_id)


def zone() -> ZoneInfo:
    return auth_services.time_zone(time_zone_name())


@dataclass(frozen=True)
class Period:
    """Whole days of the workspace's time zone: from the first day's local midnight to the one
    after the last day, with the granularity of its time series."""

    first_day: date
    last_day: date
    granularity: str
    time_zone: str = "UTC"

    @property
    def tz(self) -> ZoneInfo:
        return auth_services.time_zone(self.time_zone)

    @property
    def start(self) -> datetime:
        """The first day's local midnight, in UTC."""
        return _midnight(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        return _midnight(self.last_day + timedelta(days=1), self.tz)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def previous(self) -> Period:
        length = timedelta(days=self.days)
        return Period(self.first_day - length, self.last_day - length, self.granularity,
                      self.time_zone)

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.first_day.isoformat(), "end": self.last_day.isoformat(),
                "granularity": self.granularity, "days": self.days,
                "time_zone": self.time_zone}


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The day's local midnight (its first moment), in UTC."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def today() -> date:
    """Today in the workspace's time zone."""
    return datetime.now(zone()).date()


def salt_day() -> date:
    """The visitor salt's day (UTC): uniques and marked test devices last as long as it."""
    return datetime.now(UTC).date()


def period(range_: str | None = None, start: date | None = None, end: date | None = None,
           granularity: str | None = None) -> Period:
    """A period from a preset (``7d``) or from first and last day (inclusive)."""
    if start or end:
        if not (start and end):
            raise InvalidInput("Give both the first and the last day of the range.",
                               field="start" if not start else "end")
        for field, day in (("start", start), ("end", end)):
            if not FIRST_DAY <= day <= LAST_DAY:
                raise InvalidInput(DAY_RANGE.error, field=field)
        if end < start:
            raise InvalidInput("The last day is before the first day.", field="end")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise InvalidInput(f"A range can cover at most {MAX_RANGE_DAYS} days.", field="end")
        first, last = start, end
    else:
        range_ = range_ or DEFAULT_RANGE
        if range_ not in RANGES:
            raise InvalidInput(f"Unknown range {range_!r}; use one of {', '.join(RANGES)}.",
                               field="range")
        last = today()
        first = last - timedelta(days=RANGES[range_] - 1)
    days = (last - first).days + 1
    if granularity is None:
        granularity = "hour" if days <= 2 else "day" if days <= 92 else "week"
    if granularity not in GRANULARITIES:
        raise InvalidInput(f"Unknown granularity {granularity!r}; use hour, day or week.",
                           field="granularity")
    if granularity == "hour" and days > MAX_HOURLY_DAYS:
        raise InvalidInput(f"Hourly series cover at most {MAX_HOURLY_DAYS} days; pick day "
                           "or week.", field="granularity")
    return Period(first, last, granularity, time_zone_name())


# -- totals and series ----------------------------------------------------------------------------

def _empty_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_COLUMNS, 0)


def totals(p: Period, code_id: int | None = None) -> dict[str, int]:
    if code_id is None:
        model, time_column = WorkspaceHourly, WorkspaceHourly.hour
        bounds = (time_column >= p.start, time_column < p.end)
    else:
        model, time_column = CodeDaily, CodeDaily.day
        bounds = (CodeDaily.code_id == code_id, time_column >= p.first_day,
                  time_column <= p.last_day)
    row = db.session.execute(
        select(*[func.coalesce(func.sum(getattr(model, c)), 0).label(c) for c in COUNT_COLUMNS])
        .where(*bounds)).one()
    return {c: int(getattr(row, c)) for c in COUNT_COLUMNS}


def scans_of_codes(code_ids, days: int) -> int:
    """Scans of these codes of the workspace over the last ``days`` days, today included
    (for other plugins: how much a set of codes is still scanned)."""
    ids = list(set(code_ids))
    if not ids:
        return 0
    return int(db.session.scalar(
        select(func.coalesce(func.sum(CodeDaily.scans), 0))
        .where(CodeDaily.code_id.in_(ids), CodeDaily.day > today() - timedelta(days=days)))
        or 0)


def daily_human_scans(_app, *, workspace_id: int, code_ids, days: int,
                      **_extra) -> dict[int, list[int]]:
    """``signals.code_scan_counts``: people's scans of codes per day (the workspace's), oldest
    first, for the lists of other plugins (one query per page, whatever its length)."""
    with tenant_scope(workspace_id):
        first = today() - timedelta(days=days - 1)
    query = (select(CodeDaily.code_id, CodeDaily.day, CodeDaily.humans)
             .where(CodeDaily.day >= first, CodeDaily.humans > 0))
    if code_ids is not None:
        ids = list(set(code_ids))
        if not ids:
            return {}
        query = query.where(CodeDaily.code_id.in_(ids))
    counts: dict[int, list[int]] = {}
    with tenant_scope(workspace_id):
        for code_id, day, humans in db.session.execute(query):
            offset = (day - first).days
            if 0 <= offset < days:
                counts.setdefault(code_id, [0] * days)[offset] += int(humans)
    return counts


def _day_bucket(day: date, granularity: str) -> date:
    return day - timedelta(days=day.weekday()) if granularity == "week" else day


def _bucket_start(moment: datetime, p: Period) -> datetime:
    """The bucket a UTC moment falls in: its UTC hour, or its local day's (week's) midnight."""
    if p.granularity == "hour":
        return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return _midnight(_day_bucket(moment.astimezone(p.tz).date(), p.granularity), p.tz)


def _buckets(p: Period) -> list[datetime]:
    """Bucket starts in UTC: every hour from the first local midnight (23 or 25 on the days
    clocks change), or every local day or week."""
    buckets = []
    if p.granularity == "hour":
        moment = _bucket_start(p.start, p)
        while moment < p.end:
            buckets.append(moment)
            moment += timedelta(hours=1)
        return buckets
    day, step = _day_bucket(p.first_day, p.granularity), 7 if p.granularity == "week" else 1
    while day <= p.last_day:
        buckets.append(_midnight(day, p.tz))
        day += timedelta(days=step)
    return buckets


def _hourly_rows(p: Period, code_id: int | None):
    if code_id is None:
        bounds = (WorkspaceHourly.hour >= p.start, WorkspaceHourly.hour < p.end)
        if p.granularity == "hour" or not local_date.supports(db.engine.dialect, p.time_zone):
            # Hours (SQLite, which knows no time zones, sums them into local days here).
            return db.session.execute(
                select(WorkspaceHourly.hour,
                       *[getattr(WorkspaceHourly, c) for c in COUNT_COLUMNS]).where(*bounds))
        # Local days (and weeks, made of days) summed in the database: 90 rows, not 2,160.
        day = local_date(WorkspaceHourly.hour, p.time_zone)
        return db.session.execute(
            select(day, *[func.sum(getattr(WorkspaceHourly, c)).label(c) for c in COUNT_COLUMNS])
            .where(*bounds).group_by(day))
    if p.granularity == "hour":
        return db.session.execute(
            select(CodeHourly.hour, *[getattr(CodeHourly, c) for c in COUNT_COLUMNS])
            .where(CodeHourly.code_id == code_id, CodeHourly.hour >= p.start,
                   CodeHourly.hour < p.end))
    return db.session.execute(
        select(CodeDaily.day, *[getattr(CodeDaily, c) for c in COUNT_COLUMNS])
        .where(CodeDaily.code_id == code_id, CodeDaily.day >= p.first_day,
               CodeDaily.day <= p.last_day))


def series(p: Period, code_id: int | None = None) -> dict[str, Any]:
    """Counts per bucket over the period and over the previous one, aligned bucket by bucket."""

    def collect(q: Period) -> tuple[list[datetime], dict[str, list[int]]]:
        buckets = _buckets(q)
        index = {b: i for i, b in enumerate(buckets)}
        values = {c: [0] * len(buckets) for c in COUNT_COLUMNS}
        for row in _hourly_rows(q, code_id):
            moment = row[0]
            moment = _midnight(moment, q.tz) if isinstance(moment, date) and not isinstance(
                moment, datetime) else as_utc(moment)
            i = index.get(_bucket_start(moment, q))
            if i is None:
                continue
            for c in COUNT_COLUMNS:
                values[c][i] += getattr(row, c)
        return buckets, values

    buckets, current = collect(p)
    _previous_buckets, previous = collect(p.previous)
    return {
        "granularity": p.granularity,
        "buckets": [b.astimezone(p.tz).isoformat() for b in buckets],
        "time_zone": p.time_zone,
        "current": current,
        "previous": {c: previous[c][: len(buckets)] for c in ("scans", "humans", "uniques")},
    }


def breakdown(p: Period, dimension: str, code_id: int | None = None, limit: int = 10,
              order: str = "humans") -> list[dict[str, Any]]:
    """The top values of a dimension over the period (people first; "reason" by others)."""
    if dimension not in DIMENSIONS:
        raise InvalidInput(f"Unknown dimension {dimension!r}.", field="dimension")
    model = CodeBreakdown if code_id is not None else WorkspaceBreakdown
    sums = [func.sum(getattr(model, c)).label(c) for c in BREAKDOWN_COUNTS]
    query = (select(model.value, *sums)
             .where(model.dimension == dimension, model.day >= p.first_day,
                    model.day <= p.last_day)
             .group_by(model.value))
    if code_id is not None:
        query = query.where(CodeBreakdown.code_id == code_id)
    query = query.order_by(func.sum(getattr(model, order)).desc(), model.value).limit(limit)
    return [{"value": row.value, **{c: int(getattr(row, c)) for c in BREAKDOWN_COUNTS}}
            for row in db.session.execute(query)]


def all_breakdowns(p: Period, code_id: int | None = None, limit: int = 10
                   ) -> dict[str, list[dict[str, Any]]]:
    result = {}
    for dimension in DIMENSIONS:
        order = "others" if dimension == "reason" else "humans"
        rows = breakdown(p, dimension, code_id, limit, order)
        if dimension != "reason":
            rows = [r for r in rows if r["humans"]]
        else:
            rows = [r for r in rows if r["others"]]
        result[dimension] = rows
    return result


def whole_weeks(first_day: date, last_day: date) -> tuple[date, date] | None:
    """The first Monday and the last Sunday of the weeks that lie wholly within the days, or
    None when no week does."""
    monday = first_day + timedelta(days=-first_day.weekday() % 7)
    sunday = last_day - timedelta(days=(last_day.weekday() + 1) % 7)
    return (monday, sunday) if monday + timedelta(days=6) <= sunday else None


def top_codes(p: Period, limit: int = 10) -> list[dict[str, Any]]:
    """The codes with the most human scans in the period. The weeks it covers whole are read
    from the weekly rollup and only the days at either end from the daily one: 90 days are
    about 24 rows a code, not 90."""
    from qrp_qr import services as qr_services

    daily = select(CodeDaily.code_id, *[getattr(CodeDaily, c) for c in COUNT_COLUMNS]).where(
        CodeDaily.day >= p.first_day, CodeDaily.day <= p.last_day)
    weeks = whole_weeks(p.first_day, p.last_day)
    if weeks is not None:
        monday, sunday = weeks
        daily = union_all(
            select(CodeWeekly.code_id, *[getattr(CodeWeekly, c) for c in COUNT_COLUMNS])
            .where(CodeWeekly.week >= monday, CodeWeekly.week <= sunday - timedelta(days=6)),
            daily.where(or_(CodeDaily.day < monday, CodeDaily.day > sunday)))
    counts = daily.subquery()
    rows = db.session.execute(
        select(counts.c.code_id, *[func.sum(counts.c[c]).label(c) for c in COUNT_COLUMNS])
        .group_by(counts.c.code_id)
        .order_by(func.sum(counts.c.humans).desc(), counts.c.code_id)
        .limit(limit)).all()
    names = qr_services.code_names(row.code_id for row in rows)
    return [{"code_id": row.code_id,
             "name": names.get(row.code_id, f"Deleted code #{row.code_id}"),
             **{c: int(getattr(row, c)) for c in COUNT_COLUMNS}} for row in rows]


def code_name(code_id: int) -> str:
    """The code's name, from the qr plugin's services (never its tables)."""
    from qrp_qr import services as qr_services

    try:
        return qr_services.get_code(code_id).name
    except NotFound:
        return f"Deleted code #{code_id}"


def check_code(code_id: int):
    """The workspace's QR code, or 404 (another workspace's code is not found either)."""
    from qrp_qr import services as qr_services

    return qr_services.get_code(code_id)


def live(code_id: int) -> dict[str, Any]:
    """Today's counts (the workspace's day) and the last hour's, for the live counter."""
    now = datetime.now(UTC)
    day = db.session.execute(
        select(*[getattr(CodeDaily, c) for c in COUNT_COLUMNS])
        .where(CodeDaily.code_id == code_id, CodeDaily.day == today())).first()
    hour = db.session.execute(
        select(CodeHourly.humans, CodeHourly.scans)
        .where(CodeHourly.code_id == code_id,
               CodeHourly.hour == now.replace(minute=0, second=0, microsecond=0))).first()
    counts = {c: int(getattr(day, c)) for c in COUNT_COLUMNS} if day else _empty_counts()
    return {"today": counts, "this_hour_humans": int(hour.humans) if hour else 0,
            "as_of": now.astimezone(zone()).isoformat(), "time_zone": time_zone_name()}


def insights(p: Period, code_id: int | None = None) -> dict[str, Any]:
    """Everything the dashboard and the API show for a period."""
    current = totals(p, code_id)
    previous = totals(p.previous, code_id)
    result = {
        "period": p.as_dict(),
        "previous_period": p.previous.as_dict(),
        "totals": current,
        "previous_totals": previous,
        "series": series(p, code_id),
        "breakdowns": all_breakdowns(p, code_id),
        "anomalies": [anomaly_dict(a) for a in recent_anomalies(code_id)],
    }
    if code_id is None:
        result["top_codes"] = top_codes(p)
    else:
        result["variants"] = variant_conversions(p, code_id)
    return result


def variant_conversions(p: Period, code_id: int) -> list[dict[str, Any]]:
    """Each A/B variant of the code over the period: people it sent (scans, unique visitors)
    and, where its destination is one of our tracked pages (a microsite, a tracked link), the
    people who converted there and the rate (converted / unique visitors)."""
    from qrp_qr.smartlinks import tracked_target
    from qrplatform import hosts

    code = check_code(code_id)
    routes = {r["value"]: r for r in breakdown(p, "route", code_id, limit=100)}
    converted = {r["value"]: r["uniques"] for r in breakdown(p, "conversion", code_id,
                                                              limit=100)}
    own_hosts = hosts.platform_hosts(current_app)
    own_domains = frozenset(d.name for d in hosts.link_domains(code.workspace_id))
    rows = []
    for variant in code.variants or ():
        key = f"variant {variant['id']}"
        sent = routes.get(key, {})
        tracked = tracked_target(variant["destination"], code_id, variant["id"],
                                 own_hosts, own_domains) != variant["destination"]
        visitors = int(sent.get("uniques", 0))
        conversions = converted.get(key, 0) if tracked else None
        rows.append({
            "id": variant["id"], "name": variant.get("name"),
            "destination": variant["destination"], "weight": variant["weight"],
            "scans": int(sent.get("humans", 0)), "visitors": visitors, "tracked": tracked,
            "conversions": conversions,
            "conversion_rate": (round(100.0 * conversions / visitors, 1)
                                if conversions is not None and visitors else None)})
    return rows


def change(current: int, previous: int) -> float | None:
    """Relative change in percent; None when there is nothing to compare with."""
    if not previous:
        return None
    return round(100.0 * (current - previous) / previous, 1)


# -- anomalies and forecasts --------------------------------------------------------------------

def recent_anomalies(code_id: int | None = None, limit: int = 20) -> list[Anomaly]:
    query = select(Anomaly).order_by(Anomaly.detected_at.desc(), Anomaly.id.desc()).limit(limit)
    if code_id is not None:
        query = query.where(Anomaly.code_id == code_id)
    return list(db.session.scalars(query))


def anomaly_dict(anomaly: Anomaly) -> dict[str, Any]:
    return {"id": anomaly.id, "code_id": anomaly.code_id, "kind": anomaly.kind,
            "started_at": anomaly.started_at.isoformat(),
            "ended_at": anomaly.ended_at.isoformat() if anomaly.ended_at else None,
            "detected_at": anomaly.detected_at.isoformat(),
            "observed": anomaly.observed, "expected": round(anomaly.expected, 1),
            "score": round(anomaly.score, 2), "message": anomaly.message}


def hourly_matrix(code_ids: list[int], start: datetime, end: datetime, column: str = "humans"
                  ) -> np.ndarray:
    """(len(code_ids), hours) of one counter from the code rollups, zeros where none."""
    import numpy as np

    hours = int((end - start).total_seconds() // 3600)
    matrix = np.zeros((len(code_ids), hours))
    if not code_ids or hours <= 0:
        return matrix
    row_of = {code_id: i for i, code_id in enumerate(code_ids)}
    origin = start.timestamp()
    found = db.session.execute(
        select(CodeHourly.code_id, CodeHourly.hour, getattr(CodeHourly, column))
        .where(CodeHourly.code_id.in_(code_ids), CodeHourly.hour >= start,
               CodeHourly.hour < end)).all()
    if found:
        codes, moments, values = zip(*found, strict=True)
        np.add.at(matrix, ([row_of[c] for c in codes],
                           [int((m.timestamp() - origin) // 3600) for m in moments]), values)
    return matrix


FORECAST_KEY = "qrp:analytics:forecast:{}:{}:{:%Y%m%d%H}"
FORECAST_TTL = 2 * 3600  # seconds: a forecast is read within the hour it was made for
FORECASTS_EXTENSION = "analytics.forecasts"
FORECAST_CHUNK = 500  # codes fitted together by the hourly job


class ForecastStore:
    """Forecasts made this hour, by (workspace, code, hour): in Redis (every process reads what
    one made) when REDIS_URL is set, else in this process. A forecast depends only on the
    complete hours before the current one, so it holds for the rest of the hour."""

    LOCAL_SIZE = 10_000

    def __init__(self, redis_url: str | None):
        self.redis_url = redis_url
        self._redis = None
        self._local: dict[str, dict[str, Any]] = {}

    def _client(self):
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(self.redis_url, socket_timeout=2,
                                         socket_connect_timeout=2)
        return self._redis

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.redis_url:
            return self._local.get(key)
        import json

        raw = self._client().get(key)
        return json.loads(raw) if raw is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if not self.redis_url:
            if len(self._local) >= self.LOCAL_SIZE:
                self._local.clear()  # keys of past hours: nothing worth keeping in order
            self._local[key] = value
            return
        import json

        self._client().set(key, json.dumps(value), ex=FORECAST_TTL)


def forecast_store(app=None) -> ForecastStore:
    app = app or current_app._get_current_object()
    store = app.extensions.get(FORECASTS_EXTENSION)
    if store is None:
        store = app.extensions[FORECASTS_EXTENSION] = ForecastStore(app.config.get("REDIS_URL"))
    return store


def code_forecast(code_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The code's 14-day forecast, made once an hour (the hourly detection job makes them for
    every code with scans; a page or API call makes a missing one) and read from the store."""
    from qrplatform.tenancy import current_workspace_id

    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    key = FORECAST_KEY.format(current_workspace_id(), code_id, now)
    store = forecast_store()
    try:
        made = store.get(key)
    except Exception:  # Redis away: make it, as without a store
        made = None
    if made is not None:
        return made
    made = make_forecasts([code_id], now)[code_id]
    try:
        store.put(key, made)
    except Exception:  # Redis away: the next call makes it again
        log.warning("analytics: a forecast could not be stored", exc_info=True)
    return made


def make_forecasts(code_ids: list[int], now: datetime) -> dict[int, dict[str, Any]]:
    """Forecasts of several codes of the workspace in scope from the complete hours before
    ``now`` (an hour's start): one query and one fit for all of them."""
    from qrp_analytics import anomalies  # numpy: only this page and the hourly job need it

    start = _midnight(now.date(), UTC) - timedelta(days=anomalies.TRAIN_DAYS)
    history = hourly_matrix(code_ids, start, now)
    made = {}
    for code_id, days in zip(code_ids, anomalies.forecast(history, now), strict=True):
        if days is None:
            made[code_id] = {
                "ready": False, "days": [],
                "message": f"Forecasts need {anomalies.MIN_HISTORY_DAYS} days of history and "
                           f"about {anomalies.MIN_DAILY_HUMANS:.0f} human scans a day."}
        else:
            made[code_id] = {
                "ready": True, "interval": 0.9,
                "days": [{"day": d.day.date().isoformat(), "expected": round(d.expected, 1),
                          "low": round(d.low, 1), "high": round(d.high, 1)} for d in days]}
    return made


def store_forecasts(code_ids: list[int], now: datetime) -> int:
    """Make and store this hour's forecasts of the workspace in scope's codes (the hourly job)."""
    from qrplatform.tenancy import current_workspace_id

    now = now.replace(minute=0, second=0, microsecond=0)
    store = forecast_store()
    workspace_id = current_workspace_id()
    for first in range(0, len(code_ids), FORECAST_CHUNK):  # a month of hours each: bounded memory
        for code_id, made in make_forecasts(code_ids[first:first + FORECAST_CHUNK], now).items():
            store.put(FORECAST_KEY.format(workspace_id, code_id, now), made)
    return len(code_ids)


# -- settings and workspace rules ------------------------------------------------------------------

SCANS_QUOTA = "analytics.scans_per_month"


def scans_this_period() -> int:
    """Scans of the workspace in scope since the quota period began (the scans meter); every
    visit counts, bots and previews too, since each is a redirect served."""
    return db.session.scalar(select(func.coalesce(func.sum(WorkspaceHourly.scans), 0)).where(
        WorkspaceHourly.hour >= quotas.period_start())) or 0


def settings() -> AnalyticsSettings:
    """The workspace's settings (defaults, unsaved, when it never changed them)."""
    found = db.session.scalar(select(AnalyticsSettings))
    if found is None:
        found = AnalyticsSettings(record_referrer=True, record_user_agent=True,
                                  record_country=True, retention_days=None,
                                  bot_user_agent_patterns=[], bot_countries=[])
    return found


def effective_retention(found: AnalyticsSettings) -> int:
    return retention.retention_days(found.retention_days)


def update_settings(data: dict[str, Any]) -> AnalyticsSettings:
    permissions.require("analytics.manage")
    found = settings()
    errors: dict[str, list[str]] = {}
    for switch in ("record_referrer", "record_user_agent", "record_country"):
        if switch in data:
            setattr(found, switch, bool(data[switch]))
    if "retention_days" in data:
        days = data["retention_days"]
        allowed = retention.plan_retention_days()
        if days is not None:
            try:
                days = int(days)
            except (TypeError, ValueError):
                days = 0
            if days < 1:
                errors["retention_days"] = ["Keep scans for at least 1 day."]
            elif days > allowed:
                errors["retention_days"] = [
                    f"Your plan keeps scans for at most {allowed} days."]
        found.retention_days = days
    if "bot_user_agent_patterns" in data:
        found.bot_user_agent_patterns = classify.clean_patterns(
            data["bot_user_agent_patterns"] or [])
    if "bot_countries" in data:
        countries = sorted({(c or "").strip().upper() for c in data["bot_countries"] or []
                            if (c or "").strip()})
        bad = [c for c in countries if not COUNTRY_CODE.match(c)]
        if bad:
            errors["bot_countries"] = [f"Not two-letter country codes: {', '.join(bad)}."]
        found.bot_countries = countries
    if errors:
        db.session.rollback()
        error = InvalidInput("Some settings are not valid; see fields.")
        error.field = next(iter(errors))
        error.message = errors[error.field][0]
        raise error
    found.updated_at = datetime.now(UTC)
    db.session.add(found)
    db.session.commit()
    return found


def test_devices_today() -> list[MarkedTestDevice]:
    return list(db.session.scalars(
        select(MarkedTestDevice).where(MarkedTestDevice.day == salt_day())
        .order_by(MarkedTestDevice.created_at)))


def device_fingerprint(ip: str, user_agent: str | None) -> tuple[str, str]:
    """This device's hashes as today's scan events carry them (salted IP, user agent)."""
    salt = privacy.daily_salt(current_app)
    return privacy.ip_hash(ip, salt), classify.user_agent_hash(
        user_agent[:512] if user_agent else user_agent)


def is_test_device(ip: str, user_agent: str | None) -> bool:
    ip_hash, agent_hash = device_fingerprint(ip, user_agent)
    return db.session.scalar(select(func.count()).select_from(MarkedTestDevice).where(
        MarkedTestDevice.day == salt_day(), MarkedTestDevice.ip_hash == ip_hash,
        MarkedTestDevice.user_agent_hash == agent_hash)) > 0


def set_test_device(ip: str, user_agent: str | None, on: bool, label: str = "") -> None:
    """Mark (or unmark) the device making this request as a test device until midnight UTC."""
    permissions.require("analytics.manage")
    ip_hash, agent_hash = device_fingerprint(ip, user_agent)
    db.session.execute(delete(MarkedTestDevice).where(
        MarkedTestDevice.day == salt_day(), MarkedTestDevice.ip_hash == ip_hash,
        MarkedTestDevice.user_agent_hash == agent_hash))
    if on:
        user = g.get("user") if has_request_context() else None
        db.session.add(MarkedTestDevice(day=salt_day(), ip_hash=ip_hash, user_agent_hash=agent_hash,
                                        label=(label or "")[:100],
                                        created_by_id=user.id if user else None))
    db.session.commit()


# -- alert rules ----------------------------------------------------------------------------------

def alert_rules() -> list[AlertRule]:
    return list(db.session.scalars(select(AlertRule).order_by(AlertRule.id)))


def _check_rule(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    kind, channel = data.get("kind"), data.get("channel")
    recipient = (data.get("recipient") or "").strip()
    if kind not in ALERT_KINDS:
        errors["kind"] = "Pick spike, drop or bot_burst."
    if channel not in CHANNELS:
        errors["channel"] = "Pick email or sms."
    elif channel == "email" and not EMAIL.match(recipient):
        errors["recipient"] = "Give an e-mail address."
    elif channel == "sms" and not PHONE.match(recipient.replace(" ", "")):
        errors["recipient"] = "Give a phone number in international form, e.g. +4915123456789."
    try:
        cooldown = int(data.get("cooldown_hours") or 24)
    except (TypeError, ValueError):
        cooldown = 0
    if not 1 <= cooldown <= 24 * 30:
        errors["cooldown_hours"] = "The cooldown is 1 to 720 hours."
    code_id = data.get("code_id") or None
    if code_id is not None:
        try:
            check_code(int(code_id))
            code_id = int(code_id)
        except (NotFound, TypeError, ValueError):
            errors["code_id"] = "No such QR code in this workspace."
    if errors:
        field, message = next(iter(errors.items()))
        raise InvalidInput(message, field=field)
    return {"kind": kind, "channel": channel, "code_id": code_id, "cooldown_hours": cooldown,
            "recipient": recipient.replace(" ", "") if channel == "sms" else recipient,
            "enabled": bool(data.get("enabled", True))}


def create_alert_rule(data: dict[str, Any]) -> AlertRule:
    permissions.require("analytics.manage")
    rule = AlertRule(**_check_rule(data))
    db.session.add(rule)
    db.session.commit()
    return rule


def delete_alert_rule(rule_id: int) -> None:
    permissions.require("analytics.manage")
    rule = get_or_404(AlertRule, rule_id, "No such alert rule in this workspace.")
    db.session.delete(rule)
    db.session.commit()


def replace_alert_rules(items: list[dict[str, Any]]) -> list[AlertRule]:
    """Set the workspace's alert rules to exactly these (the API's PUT)."""
    permissions.require("analytics.manage")
    checked = [_check_rule(item) for item in items]
    for rule in alert_rules():
        db.session.delete(rule)
    rules = [AlertRule(**values) for values in checked]
    db.session.add_all(rules)
    db.session.commit()
    return rules


# -- exports --------------------------------------------------------------------------------------

EXPORT_KINDS = ("scans", "aggregates")


def start_export(kind: str, p: Period) -> jobs.Job:
    permissions.require("analytics.export")
    if kind not in EXPORT_KINDS:
        raise InvalidInput("Export scans or aggregates.", field="kind")
    job = jobs.enqueue(f"analytics.export_{kind}", p.first_day.isoformat(),
                       p.last_day.isoformat(), queue="bulk",
                       description=f"{kind} export {p.first_day} to {p.last_day}")
    db.session.commit()
    return job



# -- the home page's cards ----------------------------------------------------------------------

def has_human_scan(_user=None) -> bool:
    """For the onboarding checklist: a person scanned one of the workspace's codes."""
    return db.session.scalar(select(WorkspaceHourly.hour).where(WorkspaceHourly.humans > 0)
                             .limit(1)) is not None


def onboarding_code():
    """The dynamic code the checklist asks people to scan (the newest), or None."""
    from qrp_qr import services as qr_services

    code = qr_services.newest_code(kind="dynamic")
    if code is None:
        return None
    return {"code": code, "short_url": qr_services.short_url(code),
            "image_url": qr_services.image_urls(code)["png"]}


def home_summary(top: int = 5) -> dict[str, Any]:
    """Today (hour by hour, against yesterday by the same hour) and the last 7 days (day by
    day, against the 7 before), people apart from bots, and the week's top codes."""
    permissions.require("analytics.view")
    day, week = period("24h"), period("7d")
    hours_so_far = int((datetime.now(UTC) - day.start).total_seconds() // 3600) + 1
    day_series, week_series = series(day), series(week)
    today = totals(day)
    return {
        "today": today["humans"],
        "yesterday_so_far": sum(day_series["previous"]["humans"][:hours_so_far]),
        "today_hours": day_series["current"]["humans"][:hours_so_far],
        "today_apart": today["bots"] + today["previews"] + today["heads"],
        "week": sum(week_series["current"]["humans"]),
        "previous_week": sum(week_series["previous"]["humans"]),
        "week_days": week_series["current"]["humans"],
        "top_codes": top_codes(week, top),
    }
