"""Scan events in, raw scans and rollups out: the ``qr.scanned`` batch receiver.

``ingest_batch(events)`` is called with a list of events: in-process by the stream buffer in
the embedded setup, by ``flask events consume analytics`` (a Kafka consumer group) otherwise.
Delivery is at least once, so ingest is idempotent by event id: the raw scan's primary key
(event id, time) makes a replayed insert a no-op (``ON CONFLICT DO NOTHING``), and the rollups
are advanced only by the rows the insert actually returned. Everything happens in one
transaction, so a crash half-way leaves nothing behind for the replay to double.

On PostgreSQL a batch of new events, the common case, is COPYed into a temporary staging
table with each scan's days, hour and breakdown labels; the uniques, the raw scans and every
rollup are then one set-based statement each over it (``INSERT … SELECT … GROUP BY``), so
Python only turns events into rows. A redelivered event makes the raw insert fail: that batch
then goes in row by row, as on SQLite, with the rollups summed here.

Daily rollups (per code, and the breakdowns) are filed under the scan's day in its workspace's
time zone, weekly ones (per code) under that day's Monday; hourly ones under the UTC hour. A
workspace that changes its time zone keeps the days already counted as they were.
"""

from __future__ import annotations

import hashlib
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
    CodeWeekly,
    DailyVisitor,
    Scan,
    WorkspaceBreakdown,
    WorkspaceHourly,
)
from qrplatform.auth.services import time_zone, workspace_time_zones
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
    workspace_ids = {e.workspace_id for e, _ in parsed.values()}
    rules = classify.load_rules(workspace_ids, days)
    zones = {w: time_zone(name) for w, name in workspace_time_zones(workspace_ids).items()}
    return [_row(event, occurred_at, rules[event.workspace_id], zones[event.workspace_id])
            for event, occurred_at in parsed.values()]


def _row(event: Event, occurred_at: datetime, rules: classify.WorkspaceRules, zone
         ) -> ScanRow:
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
        # The workspace's day the scan falls on (its daily rollups' day).
        "_day": occurred_at.astimezone(zone).date(),
    }
    if data.get("via"):  # this code is a tracked link another code's A/B variant sent to
        values["_via"] = data["via"]
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
    values["_visitor"] = str(visitor) if visitor else None
    return ScanRow(values, str(visitor)[:32] if visitor else None)


def week_of(day: date) -> date:
    """The Monday of the day's week: the key of the weekly rollup."""
    return day - timedelta(days=day.weekday())


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


# PostgreSQL: a batch is COPYed into a temporary staging table with its day, hour and
# breakdown labels, and everything else is set-based SQL over it (no per-event summing or
# array adaptation in Python). The table lives per database session and empties at commit.
STAGE = "analytics_ingest_stage"
LABELS = ("country", "device", "os", "browser", "referrer", "language", "outcome", "route",
          "reason")
STAGE_COLUMNS = (*SCAN_COLUMNS, "seq", "hour", "day", "week", "utc_day", "visitor_hash",
                 *(f"label_{name}" for name in LABELS))
_STAGE_TABLE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ("
    "event_id varchar(36), occurred_at timestamptz, workspace_id integer, code_id integer, "
    "method varchar(4), classification varchar(10), reason varchar(200), outcome varchar(20), "
    "counted boolean, is_unique boolean, country varchar(2), language varchar(16), "
    "device varchar(20), os varchar(60), browser varchar(60), referrer_domain varchar(255), "
    "user_agent varchar(512), seq integer, hour timestamptz, day date, week date, utc_day date, "
    "visitor_hash varchar(32), "
    + ", ".join(f"label_{name} varchar(255)" for name in LABELS)
    + ") ON COMMIT DELETE ROWS")
# The first counted human scan of a visitor, code and (UTC) day in the batch is unique if the
# day's visitor table did not have it yet (earliest first, then the batch's order).
_MARK_UNIQUES = f"""
WITH firsts AS (
    SELECT DISTINCT ON (utc_day, code_id, visitor_hash) seq, utc_day, code_id, visitor_hash,
           workspace_id
    FROM {STAGE}
    WHERE classification = '{HUMAN}' AND counted AND visitor_hash IS NOT NULL
    ORDER BY utc_day, code_id, visitor_hash, occurred_at, seq
), added AS (
    INSERT INTO {DailyVisitor.__tablename__} (day, code_id, visitor_hash, workspace_id)
    SELECT utc_day, code_id, visitor_hash, workspace_id FROM firsts ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING
    RETURNING day, code_id, visitor_hash
)
UPDATE {STAGE} SET is_unique = true
FROM firsts JOIN added ON added.day = firsts.utc_day AND added.code_id = firsts.code_id
                      AND added.visitor_hash = firsts.visitor_hash
WHERE {STAGE}.seq = firsts.seq"""
_INSERT_SCANS = (f"INSERT INTO {Scan.__tablename__} ({', '.join(SCAN_COLUMNS)}) "
                 f"SELECT {', '.join(SCAN_COLUMNS)} FROM {STAGE}")
_COUNTS_SQL = (f"count(*), count(*) FILTER (WHERE classification = '{HUMAN}'), "
               "count(*) FILTER (WHERE is_unique), "
               f"count(*) FILTER (WHERE classification = '{BOT}'), "
               f"count(*) FILTER (WHERE classification = '{PREVIEW}'), "
               f"count(*) FILTER (WHERE classification = '{HEAD}')")
_BREAKDOWN_SQL = (f"count(*) FILTER (WHERE classification = '{HUMAN}'), "
                  "count(*) FILTER (WHERE is_unique), "
                  f"count(*) FILTER (WHERE classification <> '{HUMAN}')")
# Each staged scan once per breakdown dimension (a set-returning SELECT list, no join).
_LABELLED = ("(SELECT workspace_id, code_id, day, classification, is_unique, "
             f"unnest(ARRAY[{', '.join(repr(name) for name in LABELS)}]) AS dimension, "
             f"unnest(ARRAY[{', '.join(f'label_{name}' for name in LABELS)}]) AS value "
             f"FROM {STAGE} WHERE counted) AS labelled")


def _rollup_sql(model, key_columns: tuple[str, ...], sums: str, counters: tuple[str, ...],
                labelled: bool = False) -> str:
    """``INSERT … SELECT … GROUP BY`` of one rollup table from the staged batch, added to the
    rows there (in key order, so two consumers lock the same rows in the same order)."""
    table = model.__table__
    primary_key = ", ".join(c.name for c in table.primary_key.columns)
    source, where = (_LABELLED, "value IS NOT NULL") if labelled else (STAGE, "counted")
    positions = ", ".join(str(i) for i in range(1, len(key_columns) + 1))
    updates = ", ".join(f"{name} = {table.name}.{name} + EXCLUDED.{name}" for name in counters)
    return (f"INSERT INTO {table.name} ({', '.join((*key_columns, *counters))}) "
            f"SELECT {', '.join(key_columns)}, {sums} FROM {source} WHERE {where} "
            f"GROUP BY {positions} ORDER BY {positions} "
            f"ON CONFLICT ({primary_key}) DO UPDATE SET {updates}")


_ROLLUPS = (
    _rollup_sql(CodeHourly, ("workspace_id", "code_id", "hour"), _COUNTS_SQL, COUNT_COLUMNS),
    _rollup_sql(CodeDaily, ("workspace_id", "code_id", "day"), _COUNTS_SQL, COUNT_COLUMNS),
    _rollup_sql(CodeWeekly, ("workspace_id", "code_id", "week"), _COUNTS_SQL, COUNT_COLUMNS),
    _rollup_sql(WorkspaceHourly, ("workspace_id", "hour"), _COUNTS_SQL, COUNT_COLUMNS),
    _rollup_sql(CodeBreakdown, ("workspace_id", "code_id", "day", "dimension", "value"),
                _BREAKDOWN_SQL, BREAKDOWN_COUNTS, labelled=True),
    _rollup_sql(WorkspaceBreakdown, ("workspace_id", "day", "dimension", "value"),
                _BREAKDOWN_SQL, BREAKDOWN_COUNTS, labelled=True),
)


def _staged(seq: int, row: ScanRow) -> list:
    values = row.values
    moment: datetime = values["occurred_at"]
    labels = values["_labels"]
    return [*(values[c] for c in SCAN_COLUMNS), seq,
            moment.replace(minute=0, second=0, microsecond=0), values["_day"],
            week_of(values["_day"]), moment.date(),
            row.visitor_hash, *(labels.get(name) for name in LABELS)]


def _copy_new(rows: list[ScanRow]) -> int | None:
    """PostgreSQL's common case, a batch of events never stored before: the batch COPYed into
    the staging table, then uniques, the raw scans and every rollup in one SQL statement each.
    Returns None, having written nothing, when some event was stored before (a redelivery):
    the batch then goes in row by row, each insert ignoring a duplicate."""
    from psycopg.errors import UniqueViolation

    savepoint = db.session.begin_nested()
    try:
        connection = db.session.connection().connection.driver_connection
        with connection.cursor() as cursor:
            cursor.execute(_STAGE_TABLE)
            cursor.execute(f"DELETE FROM {STAGE}")  # empty unless a test keeps the transaction
            with cursor.copy(f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
                for seq, row in enumerate(rows):
                    copy.write_row(_staged(seq, row))
            # The staging table has no statistics: keep the planner off a nested loop.
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute(_MARK_UNIQUES)
            cursor.execute("RESET enable_nestloop")
            try:
                cursor.execute(_INSERT_SCANS)
            except UniqueViolation:
                savepoint.rollback()
                return None
            for statement in _ROLLUPS:
                cursor.execute(statement)
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    savepoint.commit()
    add_conversions([Conversion(v["workspace_id"], v["_via"], v["occurred_at"], v["_day"],
                                v["_visitor"]) for v in (row.values for row in rows)
                     if v.get("_via") and v["classification"] == HUMAN and v.get("_visitor")])
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
    code_weekly: dict[tuple, dict] = {}
    workspace_hourly: dict[tuple, dict] = {}
    code_breakdown: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(BREAKDOWN_COUNTS, 0))
    workspace_breakdown: dict[tuple, dict] = defaultdict(
        lambda: dict.fromkeys(BREAKDOWN_COUNTS, 0))
    for v in rows:
        if not v["counted"]:
            continue
        moment: datetime = v["occurred_at"]
        hour = moment.replace(minute=0, second=0, microsecond=0)
        day = v["_day"]
        workspace_id, code_id = v["workspace_id"], v["code_id"]
        counts = _counts(v)
        _add(code_hourly, (workspace_id, code_id, hour), counts)
        _add(code_daily, (workspace_id, code_id, day), counts)
        _add(code_weekly, (workspace_id, code_id, week_of(day)), counts)
        _add(workspace_hourly, (workspace_id, hour), counts)
        human = v["classification"] == HUMAN
        for dimension, value in v["_labels"].items():
            for bucket in (code_breakdown[(workspace_id, code_id, day, dimension, value)],
                           workspace_breakdown[(workspace_id, day, dimension, value)]):
                bucket["humans"] += human
                bucket["uniques"] += counts["uniques"]
                bucket["others"] += not human
    add_conversions([Conversion(v["workspace_id"], v["_via"], v["occurred_at"], v["_day"],
                                v["_visitor"]) for v in rows
                     if v.get("_via") and v["classification"] == HUMAN and v.get("_visitor")])
    _upsert(CodeHourly, ("workspace_id", "code_id", "hour"), code_hourly, COUNT_COLUMNS)
    _upsert(CodeDaily, ("workspace_id", "code_id", "day"), code_daily, COUNT_COLUMNS)
    _upsert(CodeWeekly, ("workspace_id", "code_id", "week"), code_weekly, COUNT_COLUMNS)
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


# -- conversions of A/B variants ------------------------------------------------------------------

CONVERSION = "conversion"  # the breakdown dimension: "variant <id>" of the code that sent them
CLICK_EVENT = "microsites.clicked"


@dataclass(frozen=True)
class Conversion:
    workspace_id: int
    via: str
    occurred_at: datetime
    day: date
    visitor_hash: str


def add_conversions(found: list[Conversion]) -> int:
    """Count people an A/B variant sent to one of our tracked pages who clicked there (or
    arrived, for a tracked link): once per person, variant and (salt) day, so a redelivered
    event or a second click adds nothing. Only the sending code's own workspace counts them."""
    from qrp_qr import services as qr_services
    from qrp_qr.smartlinks import parse_via
    from qrplatform.tenancy import tenant_scope

    wanted: dict[tuple, tuple[int, str, date]] = {}
    for conversion in found:
        parsed = parse_via(conversion.via)
        if parsed is None:
            continue
        code_id, variant_id = parsed
        # The visitor's hash differs per page: together with the variant it names one person.
        person = hashlib.sha256(f"{variant_id}:{conversion.visitor_hash}".encode()
                                ).hexdigest()[:32]
        key = (conversion.occurred_at.astimezone(UTC).date(), code_id, person)
        wanted.setdefault(key, (conversion.workspace_id, variant_id, conversion.day))
    if not wanted:
        return 0
    owned: set[tuple[int, int]] = set()
    for workspace_id in {w for w, _v, _d in wanted.values()}:
        with tenant_scope(workspace_id):
            owned |= {(workspace_id, code_id) for code_id in qr_services.code_names(
                {code_id for (_d, code_id, _p), (w, _v, _day) in wanted.items()
                 if w == workspace_id})}
    wanted = {k: v for k, v in wanted.items() if (v[0], k[1]) in owned}
    if not wanted:
        return 0
    table = DailyVisitor.__table__
    statement = (dialect_insert(table).on_conflict_do_nothing()
                 .returning(table.c.day, table.c.code_id, table.c.visitor_hash))
    new = {(r.day, r.code_id, r.visitor_hash) for r in db.session.execute(statement, [
        {"day": day, "code_id": code_id, "visitor_hash": person, "workspace_id": w}
        for (day, code_id, person), (w, _v, _d) in sorted(wanted.items())])}
    buckets: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(BREAKDOWN_COUNTS, 0))
    for key in new:
        workspace_id, variant_id, local_day = wanted[key]
        bucket = buckets[(workspace_id, key[1], local_day, CONVERSION, f"variant {variant_id}")]
        bucket["humans"] += 1
        bucket["uniques"] += 1
    _upsert(CodeBreakdown, ("workspace_id", "code_id", "day", "dimension", "value"),
            buckets, BREAKDOWN_COUNTS)
    return len(new)


def ingest_clicks(events: list[Event]) -> int:
    """``microsites.clicked`` batch receiver: people's clicks on a page an A/B variant sent
    them to are that variant's conversions."""
    found = []
    for event in events:
        data = event.data or {}
        if event.type != CLICK_EVENT or not data.get("via") or event.workspace_id is None or \
                (data.get("classification") or HUMAN) != HUMAN or not data.get("visitor_hash"):
            continue
        try:
            occurred_at = _parse_time(event.occurred_at)
        except (TypeError, ValueError):
            continue
        found.append((event.workspace_id, str(data["via"]), occurred_at,
                      str(data["visitor_hash"])))
    if not found:
        return 0
    zones = {w: time_zone(name)
             for w, name in workspace_time_zones({f[0] for f in found}).items()}
    try:
        added = add_conversions([Conversion(w, via, moment, moment.astimezone(zones[w]).date(),
                                            visitor) for w, via, moment, visitor in found])
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return added


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
