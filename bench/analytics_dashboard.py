"""Dashboard queries over 10 million seeded scans (90 days, 1,000 codes) on PostgreSQL.

    .venv/bin/python bench/analytics_dashboard.py [--scans 10000000] [--codes 1000] [--runs 30]

Configuration: PostgreSQL with the plugin's schema from its migrations (its own database,
BENCH_DATABASE_URL, default bench_analytics, dropped first); the charts' own service functions,
in one process, as a page or the API calls them. The scans are generated in the database
(``generate_series``) ten days at a time into an unlogged seed table with what ingest stages
for a scan (columns, visitor, breakdown labels), each visitor's first human scan of a code and
day marked unique; from there into the raw table, the daily visitors and every rollup, summed
in SQL the way ingest sums them in Python: minutes, not the 40 of sending 10 M events through
the consumer (bench/analytics_ingest.py measures that). Then each chart of
the workspace dashboard and of the busiest code's page is timed for the 7, 30 and 90 day
ranges: p50 and p95 per chart. Target (issue 12): every p95 <= 25 ms at 10 M scans.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_common import make_bench_app, make_workspace

SEED_TABLE = "bench_seed_scans"
DAYS = 90
DAYS_PER_CHUNK = 10
LABELS = ("country", "device", "os", "browser", "referrer", "language", "reason", "outcome")
SEED_DDL = f"""
CREATE UNLOGGED TABLE {SEED_TABLE} (
    event_id varchar(36), occurred_at timestamptz, workspace_id integer, code_id integer,
    method varchar(4), classification varchar(10), reason varchar(200), outcome varchar(20),
    counted boolean, is_unique boolean, country varchar(2), language varchar(16),
    device varchar(20), os varchar(60), browser varchar(60), referrer_domain varchar(255),
    user_agent varchar(512), visitor_hash varchar(32),
    {", ".join(f"label_{name} varchar(255)" for name in LABELS)})
"""
DAY = "(occurred_at AT TIME ZONE 'UTC')::date"
HOUR = "date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
COUNT_SQL = {
    "scans": "count(*)",
    "humans": "count(*) FILTER (WHERE classification = 'human')",
    "uniques": "count(*) FILTER (WHERE is_unique)",
    "bots": "count(*) FILTER (WHERE classification = 'bot')",
    "previews": "count(*) FILTER (WHERE classification = 'preview')",
    "heads": "count(*) FILTER (WHERE classification = 'head')",
    "others": "count(*) FILTER (WHERE classification <> 'human')",
}


def rollup_sql(table: str, keys: dict[str, str], counters: tuple[str, ...], source: str,
               where: str = "counted") -> str:
    positions = ", ".join(str(i + 1) for i in range(len(keys)))
    return (f"INSERT INTO {table} ({', '.join([*keys, *counters])}) "
            f"SELECT {', '.join([*keys.values(), *(COUNT_SQL[c] for c in counters)])} "
            f"FROM {source} WHERE {where} GROUP BY {positions}")


def rollup_statements() -> list[str]:
    """Every rollup from the seed table: a chunk of whole days, so no key is there yet."""
    from qrp_analytics.models import BREAKDOWN_COUNTS, COUNT_COLUMNS

    labelled = (f"{SEED_TABLE} CROSS JOIN LATERAL (VALUES "
                + ", ".join(f"('{name}', label_{name})" for name in LABELS)
                + ") AS d(dimension, value)")
    code = {"workspace_id": "workspace_id", "code_id": "code_id"}
    dimension = {"dimension": "d.dimension", "value": "d.value"}
    valued = "counted AND d.value IS NOT NULL"
    return [
        rollup_sql("analytics_code_hourly", {**code, "hour": HOUR}, COUNT_COLUMNS, SEED_TABLE),
        rollup_sql("analytics_code_daily", {**code, "day": DAY}, COUNT_COLUMNS, SEED_TABLE),
        rollup_sql("analytics_workspace_hourly", {"workspace_id": "workspace_id", "hour": HOUR},
                   COUNT_COLUMNS, SEED_TABLE),
        rollup_sql("analytics_code_breakdown", {**code, "day": DAY, **dimension},
                   BREAKDOWN_COUNTS, labelled, valued),
        rollup_sql("analytics_workspace_breakdown",
                   {"workspace_id": "workspace_id", "day": DAY, **dimension}, BREAKDOWN_COUNTS,
                   labelled, valued),
    ]
SEED_ROWS = """
INSERT INTO {table} (
    event_id, occurred_at, workspace_id, code_id, method, classification, reason, outcome,
    counted, is_unique, country, language, device, os, browser, referrer_domain, user_agent,
    visitor_hash, label_country, label_device, label_os, label_browser, label_referrer,
    label_language, label_reason, label_outcome)
SELECT md5(i::text)::uuid::text, at, :workspace, code, 'GET', class, reason, 'redirected',
       true,
       class = 'human' AND row_number() OVER (
           PARTITION BY code, (at AT TIME ZONE 'UTC')::date, visitor ORDER BY at, i) = 1,
       country, lang, device, os, browser, referrer, NULL, visitor,
       coalesce(country, :unknown), device, os, browser, coalesce(referrer, :direct),
       coalesce(lang, :unknown),
       CASE WHEN class <> 'human' THEN class || ': ' || reason END,
       'redirected'
FROM (
    SELECT i, at, code, class, country, lang, device, os, browser, referrer,
           CASE class WHEN 'bot' THEN 'Googlebot' WHEN 'preview' THEN 'WhatsApp'
                      WHEN 'head' THEN 'HEAD request' END AS reason,
           left(md5((i % :visitors)::text || code::text), 32) AS visitor
    FROM (
        SELECT i,
               :start + (i::float8 * :seconds / :total) * interval '1 second' AS at,
               1 + floor(:codes * power(random(), 2))::int AS code,
               CASE WHEN r < 0.85 THEN 'human' WHEN r < 0.93 THEN 'bot'
                    WHEN r < 0.98 THEN 'preview' ELSE 'head' END AS class,
               (ARRAY['DE','FR','US','GB','NL','ES','IT','PL','SE',NULL])
                   [1 + floor(random() * 10)::int] AS country,
               (ARRAY['de','fr','en','nl','es',NULL])[1 + floor(random() * 6)::int] AS lang,
               (ARRAY['mobile','mobile','mobile','tablet','desktop'])
                   [1 + floor(random() * 5)::int] AS device,
               (ARRAY['iOS','Android','Windows','Mac OS X'])[1 + floor(random() * 4)::int] AS os,
               (ARRAY['Mobile Safari','Chrome Mobile','Chrome','Samsung Internet','Firefox'])
                   [1 + floor(random() * 5)::int] AS browser,
               (ARRAY[NULL,NULL,'t.co','instagram.com','news.example','com.google.android.gm'])
                   [1 + floor(random() * 6)::int] AS referrer
        FROM (SELECT i, random() AS r
              FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS i) numbers
    ) generated
) described
"""


def seed(app, workspace_id: int, total: int, codes: int) -> None:
    from sqlalchemy import text

    from qrp_analytics import classify, ingest
    from qrp_analytics.models import COUNT_COLUMNS
    from qrplatform.extensions import db
    from qrplatform.tenancy import unscoped

    # Whole UTC days, today the last: each chunk holds whole days, so no rollup key (a code's
    # day or hour) and no visitor's first scan of a day is split between two chunks.
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start = end - timedelta(days=DAYS)
    seconds = DAYS * 86400
    with app.app_context(), unscoped():
        ingest.ensure_partitions([start + timedelta(days=d) for d in range(DAYS + 1)])
        connection = db.session.connection()
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {SEED_TABLE}")
        connection.exec_driver_sql(SEED_DDL)
        db.session.commit()
        started = time.perf_counter()
        for first_day in range(0, DAYS, DAYS_PER_CHUNK):
            # Whole days per chunk: a visitor's first scan of a day is found within it.
            first = math.ceil(first_day * total / DAYS)
            last = min(math.ceil((first_day + DAYS_PER_CHUNK) * total / DAYS), total) - 1
            connection = db.session.connection()
            # Sorting a chunk's visitors and rollup keys in memory; the seed is rebuilt if lost.
            connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
            connection.exec_driver_sql(f"SELECT setseed({first_day / DAYS})")
            db.session.execute(text(SEED_ROWS.format(table=SEED_TABLE)), {
                "workspace": workspace_id, "start": start, "seconds": seconds, "total": total,
                "codes": codes, "visitors": max(total // 3, 1), "first": first, "last": last,
                "unknown": classify.UNKNOWN, "direct": classify.DIRECT})
            connection.exec_driver_sql(
                f"INSERT INTO analytics_scans ({', '.join(ingest.SCAN_COLUMNS)}) "
                f"SELECT {', '.join(ingest.SCAN_COLUMNS)} FROM {SEED_TABLE}")
            connection.exec_driver_sql(
                "INSERT INTO analytics_daily_visitors (day, code_id, visitor_hash, workspace_id) "
                f"SELECT (occurred_at AT TIME ZONE 'UTC')::date, code_id, visitor_hash, "
                f"workspace_id FROM {SEED_TABLE} WHERE is_unique")
            for statement in rollup_statements():
                connection.exec_driver_sql(statement)
            connection.exec_driver_sql(f"TRUNCATE {SEED_TABLE}")
            db.session.commit()
            done = last + 1
            print(f"  seeded {done:,} scans ({done / (time.perf_counter() - started):,.0f}/s)",
                  flush=True)
        connection = db.session.connection()
        connection.exec_driver_sql(f"DROP TABLE {SEED_TABLE}")
        # The weeks from the days, as the migration that added them fills them (chunks of ten
        # days do not end on a Sunday, so a week cannot be summed within one).
        connection.exec_driver_sql(
            f"INSERT INTO analytics_code_weekly (workspace_id, code_id, week, "
            f"{', '.join(COUNT_COLUMNS)}) SELECT workspace_id, code_id, "
            f"date_trunc('week', day)::date, {', '.join(f'sum({c})' for c in COUNT_COLUMNS)} "
            f"FROM analytics_code_daily GROUP BY 1, 2, 3")
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    print(f"seeded in {time.perf_counter() - started:.0f} s")


def timed(func, runs: int) -> list[float]:
    from qrplatform.extensions import db

    func()  # warm the caches, as a dashboard in use is
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=10_000_000)
    parser.add_argument("--codes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", action="store_true",
                        help="time the charts on the scans an earlier run seeded")
    args = parser.parse_args()

    from sqlalchemy import func, select

    # Forecasts are stored where production keeps them: Redis when BENCH_REDIS_URL names one.
    app = make_bench_app(fresh=not args.reuse, REDIS_URL=os.environ.get("BENCH_REDIS_URL"))
    if args.reuse:
        from qrp_analytics.models import WorkspaceHourly
        from qrplatform.extensions import db as database
        from qrplatform.tenancy import unscoped

        with app.app_context(), unscoped():
            workspace_id = database.session.scalar(select(func.min(WorkspaceHourly.workspace_id)))
    else:
        workspace_id = make_workspace(app)
        print(f"seeding {args.scans:,} scans over 90 days on {args.codes:,} codes")
        seed(app, workspace_id, args.scans, args.codes)

    from qrp_analytics import services
    from qrp_analytics.models import DIMENSIONS, CodeDaily, Scan
    from qrplatform.extensions import db
    from qrplatform.tenancy import tenant_scope

    worst = 0.0
    with app.test_request_context(), tenant_scope(workspace_id):
        from flask import g

        g.workspace = None
        print(f"{db.session.scalar(select(func.count()).select_from(Scan)):,} raw scans, "
              f"{db.session.scalar(select(func.count()).select_from(CodeDaily)):,} code-days")
        busiest = db.session.scalar(select(CodeDaily.code_id).group_by(CodeDaily.code_id)
                                    .order_by(func.sum(CodeDaily.scans).desc()).limit(1))
        print(f"{'range':6} {'chart':34} {'p50 ms':>8} {'p95 ms':>8}")
        for range_ in ("7d", "30d", "90d"):
            p = services.period(range_)
            charts = {
                "workspace totals (+ previous)": lambda p=p: (services.totals(p),
                                                              services.totals(p.previous)),
                "workspace series (+ previous)": lambda p=p: services.series(p),
                "workspace top codes": lambda p=p: services.top_codes(p),
                **{f"workspace {d}": (lambda p=p, d=d: services.breakdown(p, d))
                   for d in DIMENSIONS},
                "code totals (+ previous)": lambda p=p: (services.totals(p, busiest),
                                                         services.totals(p.previous, busiest)),
                "code series (+ previous)": lambda p=p: services.series(p, busiest),
                **{f"code {d}": (lambda p=p, d=d: services.breakdown(p, d, busiest))
                   for d in ("country", "device", "reason")},
                "code live counter": lambda: services.live(busiest),
                "code forecast": lambda: services.code_forecast(busiest),
            }
            for name, chart in charts.items():
                times = timed(chart, args.runs)
                p95 = statistics.quantiles(times, n=20)[-1]
                worst = max(worst, p95)
                print(f"{range_:6} {name:34} {statistics.median(times):8.1f} {p95:8.1f}")
        # What the hourly job (or the first view of a code in an hour) pays to make a forecast;
        # pages and the API read the stored one (the "code forecast" rows above).
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        times = timed(lambda: services.make_forecasts([busiest], now), args.runs)
        print(f"{'-':6} {'(forecast made, once an hour)':34} {statistics.median(times):8.1f} "
              f"{statistics.quantiles(times, n=20)[-1]:8.1f}  (not a page read)")
    verdict = "OK" if worst <= 25 else "BELOW TARGET"
    print(f"worst p95: {worst:.1f} ms (target <= 25 ms) [{verdict}]")


if __name__ == "__main__":
    main()
