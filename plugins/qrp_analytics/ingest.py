"""Scan events in, raw scans and rollups out: the ``qr.scanned`` batch receiver.

``ingest_batch(events)`` is called with a list of events: in-process by the stream buffer in
the embedded setup, by ``flask events consume analytics`` (a Kafka consumer group) otherwise.
Delivery is at least once, so ingest is idempotent by event id: the raw scan's primary key
(event id, time) makes a replayed insert a no-op (``ON CONFLICT DO NOTHING``), and the rollups
are advanced only by the rows the insert actually returned. Everything happens in one
transaction, so a crash half-way leaves nothing behind for the replay to double.

On PostgreSQL a batch of new events, the common case, is COPYed into the raw table in one go
(a redelivered event makes the COPY fail: that batch then goes in row by row, as on SQLite),
and the rollups are summed here and added with one statement per rollup table.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from qrp_analytics import classify
from qrp_analytics.models import (
    BREAKDOWN_COUNTS,
    COUNT_COLUMNS,
    CodeBreakdown,
    CodeDaily,
    CodeHourly,
    DailyVisitor,
    Scan,
    WorkspaceBreakdown,
    WorkspaceHourly,
)
from qrplatform.events import Event
from qrplatform.extensions import db, dialect_insert
from qrplatform.sqltypes import as_utc
from qrplatform.useragents import BOT, HEAD, HUMAN, PREVIEW

log = logging.getLogger(__name__)

EVENT_TYPE = "qr.scanned"
# The prompt for a password is followed by the unlock, which is recorded on its own.
UNCOUNTED_OUTCOMES = frozenset({"password_required"})
# Events further in the future than this are refused (a broken clock), not stored.
MAX_CLOCK_SKEW = timedelta(days=1)
PARTITION_SCHEMA = "analytics_partitions"
_COUNTER_FOR = {HUMAN: "humans", BOT: "bots", PREVIEW: "previews", HEAD: "heads"}


@dataclass
class ScanRow:
    values: dict[str, Any]
    visitor_hash: str | None

    @property
    def occurred_at(self) -> datetime:
        return self.values["occurred_at"]


def ingest_batch(events: list[Event]) -> int:
    """Store a batch of ``qr.scanned`` events; returns how many were new."""
    rows = _rows(events)
    if not rows:
        return 0
    try:
        inserted = _store(rows)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return inserted


# -- turning events into rows ---------------------------------------------------------------------

def _parse_time(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


def _rows(events: Iterable[Event]) -> list[ScanRow]:
    parsed: dict[str, tuple[Event, datetime]] = {}
    latest = datetime.now(UTC) + MAX_CLOCK_SKEW
    for event in events:
        if event.type != EVENT_TYPE or event.id in parsed:
            continue
        try:
            occurred_at = _parse_time(event.occurred_at)
            int(event.data["code_id"])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("analytics: skipping malformed scan event %s: %r", event.id, exc)
            continue
        if event.workspace_id is None or occurred_at > latest:
            log.warning("analytics: skipping scan event %s (workspace %s, time %s)",
                        event.id, event.workspace_id, occurred_at)
            continue
        parsed[event.id] = (event, occurred_at)
    if not parsed:
        return []
    days = {occurred_at.date() for _, occurred_at in parsed.values()}
    rules = classify.load_rules((e.workspace_id for e, _ in parsed.values()), days)
    return [_row(event, occurred_at, rules[event.workspace_id])
            for event, occurred_at in parsed.values()]


def _row(event: Event, occurred_at: datetime, rules: classify.WorkspaceRules) -> ScanRow:
    data = event.data
    user_agent = data.get("user_agent") or None
    country = (data.get("country") or None) if rules.record_country else None
    classification = data.get("classification") or HUMAN
    if classification not in _COUNTER_FOR:
        classification = BOT
    classification, reason = rules.reclassify(
        classification, data.get("reason"), user_agent=user_agent,
        country=data.get("country") or None, ip_hash=data.get("ip_hash"),
        day=occurred_at.date())
    agent = classify.parse_agent(user_agent) if rules.record_user_agent else None
    outcome = str(data.get("outcome") or "redirected")[:20]
    values = {
        "event_id": event.id,
        "occurred_at": occurred_at,
        "workspace_id": event.workspace_id,
        "code_id": int(data["code_id"]),
        "method": "HEAD" if data.get("method") == "HEAD" else "GET",
        "classification": classification,
        "reason": (reason or None) and str(reason)[:200],
        "outcome": outcome,
        "counted": outcome not in UNCOUNTED_OUTCOMES,
        "is_unique": False,
        "country": country,
        "language": (data.get("language") or None) and str(data["language"])[:16],
        "device": agent.device if agent else None,
        "os": agent.os[:60] if agent else None,
        "browser": agent.browser[:60] if agent else None,
        "referrer_domain": (classify.referrer_domain(data.get("referrer"))
                            if rules.record_referrer else None),
        "user_agent": user_agent[:512] if (user_agent and rules.record_user_agent) else None,
    }
    # Breakdown labels say why a value is missing: not recorded, unknown, or direct.
    values["_labels"] = {
        "country": country or (classify.UNKNOWN if rules.record_country
                               else classify.NOT_RECORDED),
        "device": values["device"] or classify.NOT_RECORDED,
        "os": values["os"] or classify.NOT_RECORDED,
        "browser": values["browser"] or classify.NOT_RECORDED,
        "referrer": values["referrer_domain"] or (classify.DIRECT if rules.record_referrer
                                                  else classify.NOT_RECORDED),
        "language": values["language"] or classify.UNKNOWN,
        "outcome": outcome,
    }
    route = _route(data)
    if route is not None:
        values["_labels"]["route"] = route
    if classification != HUMAN:
        values["_labels"]["reason"] = f"{classification}: {reason or classification}"[:255]
    visitor = data.get("visitor_hash")
    return ScanRow(values, str(visitor)[:32] if visitor else None)


def _route(data: dict) -> str | None:
    """What sent a smart link's scan where (the qr plugin names the rule or variant; "routed"
    marks a code that has either, so its default destination is counted too)."""
    if data.get("rule"):
        return f"rule {str(data['rule'])[:16]}"
    if data.get("variant"):
        return f"variant {str(data['variant'])[:16]}"
    return "default" if data.get("routed") else None


# -- storing --------------------------------------------------------------------------------------

# The raw table's columns, in the order the rows are COPYed.
SCAN_COLUMNS = ("event_id", "occurred_at", "workspace_id", "code_id", "method", "classification",
                "reason", "outcome", "counted", "is_unique", "country", "language", "device",
                "os", "browser", "referrer_domain", "user_agent")


def _mark_uniques(rows: list[ScanRow]) -> None:
    """A human scan is unique when its visitor hash is new for the code that day."""
    first: dict[tuple, ScanRow] = {}
    for row in sorted(rows, key=lambda r: r.occurred_at):
        v = row.values
        if v["classification"] != HUMAN or not v["counted"] or not row.visitor_hash:
            continue
        first.setdefault((v["occurred_at"].date(), v["code_id"], row.visitor_hash), row)
    if not first:
        return
    table = DailyVisitor.__table__
    statement = (dialect_insert(table).on_conflict_do_nothing()
                 .returning(table.c.day, table.c.code_id, table.c.visitor_hash))
    params = [{"day": day, "code_id": code_id, "visitor_hash": visitor,
               "workspace_id": row.values["workspace_id"]}
              for (day, code_id, visitor), row in sorted(first.items())]
    new = {(r.day, r.code_id, r.visitor_hash)
           for r in db.session.execute(statement, params)}
    for key, row in first.items():
        row.values["is_unique"] = key in new


def _store(rows: list[ScanRow]) -> int:
    ensure_partitions({row.occurred_at for row in rows})
    if db.engine.dialect.name == "postgresql":
        stored = _copy_new(rows)
        if stored is not None:
            return stored
    _mark_uniques(rows)
    table = Scan.__table__
    statement = (dialect_insert(table).on_conflict_do_nothing()
                 .returning(table.c.event_id))
    params = [{k: v for k, v in row.values.items() if not k.startswith("_")} for row in rows]
    inserted_ids = {r.event_id for r in db.session.execute(statement, params)}
    new_rows = [row.values for row in rows if row.values["event_id"] in inserted_ids]
    _advance_rollups(new_rows)
    return len(new_rows)


def _copy_new(rows: list[ScanRow]) -> int | None:
    """PostgreSQL's common case, a batch of events never stored before: uniques marked, the
    raw scans COPYed straight into their table (the bulk of the work, at COPY's pace), the
    rollups advanced. Returns None, having written nothing, when some event was stored before
    (a redelivery): the batch then goes in row by row, each insert ignoring a duplicate."""
    from psycopg.errors import UniqueViolation

    savepoint = db.session.begin_nested()
    try:
        _mark_uniques(rows)
        connection = db.session.connection().connection.driver_connection
        with connection.cursor() as cursor, cursor.copy(
                f"COPY {Scan.__tablename__} ({', '.join(SCAN_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                values = row.values
                copy.write_row([values[c] for c in SCAN_COLUMNS])
    except UniqueViolation:
        savepoint.rollback()
        return None
    savepoint.commit()
    _advance_rollups([row.values for row in rows])
    return len(rows)


def _counts(v: dict[str, Any]) -> dict[str, int]:
    counts = dict.fromkeys(COUNT_COLUMNS, 0)
    counts["scans"] = 1
    counts[_COUNTER_FOR[v["classification"]]] = 1
    counts["uniques"] = int(v["is_unique"])
    return counts


def _add(target: dict, key: tuple, counts: dict[str, int]) -> None:
    bucket = target.get(key)
    if bucket is None:
        target[key] = dict(counts)
    else:
        for name, amount in counts.items():
            bucket[name] += amount


def _advance_rollups(rows: list[dict[str, Any]]) -> None:
    code_hourly: dict[tuple, dict] = {}
    code_daily: dict[tuple, dict] = {}
    workspace_hourly: dict[tuple, dict] = {}
    code_breakdown: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(BREAKDOWN_COUNTS, 0))
    workspace_breakdown: dict[tuple, dict] = defaultdict(
        lambda: dict.fromkeys(BREAKDOWN_COUNTS, 0))
    for v in rows:
        if not v["counted"]:
            continue
        moment: datetime = v["occurred_at"]
        hour = moment.replace(minute=0, second=0, microsecond=0)
        day = moment.date()
        workspace_id, code_id = v["workspace_id"], v["code_id"]
        counts = _counts(v)
        _add(code_hourly, (workspace_id, code_id, hour), counts)
        _add(code_daily, (workspace_id, code_id, day), counts)
        _add(workspace_hourly, (workspace_id, hour), counts)
        human = v["classification"] == HUMAN
        for dimension, value in v["_labels"].items():
            for bucket in (code_breakdown[(workspace_id, code_id, day, dimension, value)],
                           workspace_breakdown[(workspace_id, day, dimension, value)]):
                bucket["humans"] += human
                bucket["uniques"] += counts["uniques"]
                bucket["others"] += not human
    _upsert(CodeHourly, ("workspace_id", "code_id", "hour"), code_hourly, COUNT_COLUMNS)
    _upsert(CodeDaily, ("workspace_id", "code_id", "day"), code_daily, COUNT_COLUMNS)
    _upsert(WorkspaceHourly, ("workspace_id", "hour"), workspace_hourly, COUNT_COLUMNS)
    _upsert(CodeBreakdown, ("workspace_id", "code_id", "day", "dimension", "value"),
            code_breakdown, BREAKDOWN_COUNTS)
    _upsert(WorkspaceBreakdown, ("workspace_id", "day", "dimension", "value"),
            workspace_breakdown, BREAKDOWN_COUNTS)


def _upsert(model, key_columns: tuple[str, ...], buckets: dict[tuple, dict],
            counters: tuple[str, ...]) -> None:
    """Add the buckets to the rollup rows, creating them as needed (sorted by key, so two
    consumers touching the same rows lock them in the same order)."""
    if not buckets:
        return
    table = model.__table__
    primary_key = [c.name for c in table.primary_key.columns]
    items = sorted(buckets.items())
    if db.engine.dialect.name == "postgresql":
        # One statement over arrays, one per column: a row at a time costs ten times more.
        columns = [*key_columns, *counters]
        casts = ", ".join(f"%s::{table.c[name].type.compile(db.engine.dialect)}[]"
                          for name in columns)
        updates = ", ".join(f"{name} = {table.name}.{name} + EXCLUDED.{name}"
                            for name in counters)
        arrays = [[key[i] for key, _counts in items] for i in range(len(key_columns))]
        arrays += [[counts[name] for _key, counts in items] for name in counters]
        connection = db.session.connection().connection.driver_connection
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table.name} ({', '.join(columns)}) "
                           f"SELECT * FROM unnest({casts}) "
                           f"ON CONFLICT ({', '.join(primary_key)}) DO UPDATE SET {updates}",
                           arrays)
        return
    statement = dialect_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=primary_key,
        set_={name: table.c[name] + statement.excluded[name] for name in counters},
    )
    params = [{**dict(zip(key_columns, key, strict=True)), **counts} for key, counts in items]
    db.session.execute(statement, params)


# -- PostgreSQL partitions ------------------------------------------------------------------------

_known_partitions: set[tuple[str, str]] = set()
_partition_lock = threading.Lock()


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def partition_name(month: date) -> str:
    return f"scans_{month:%Y_%m}"


def ensure_partitions(moments: Iterable[datetime]) -> None:
    """Create the monthly partitions of analytics_scans these times fall in (PostgreSQL).

    Remembered per process and database; created in a transaction of their own under an
    advisory lock, so two consumers never race on the same partition.
    """
    if db.engine.dialect.name != "postgresql":
        return
    database = db.engine.url.render_as_string(hide_password=True)
    months = {month_start(m.date()) for m in moments}
    missing = [m for m in sorted(months) if (database, partition_name(m)) not in
               _known_partitions]
    if not missing:
        return
    with _partition_lock, db.engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('analytics_scans_partitions'))"))
        for month in missing:
            name = partition_name(month)
            conn.execute(text(
                f'CREATE TABLE IF NOT EXISTS {PARTITION_SCHEMA}."{name}" '
                f"PARTITION OF analytics_scans FOR VALUES FROM ('{month.isoformat()} 00:00+00') "
                f"TO ('{next_month(month).isoformat()} 00:00+00')"))
    _known_partitions.update((database, partition_name(m)) for m in missing)


def forget_partitions() -> None:
    """Drop the per-process memory of partitions (after the schema was rebuilt or purged)."""
    _known_partitions.clear()
