"""Dashboard queries over 10 million seeded scans (90 days, 1,000 codes) on PostgreSQL.

    .venv/bin/python bench/analytics_dashboard.py [--scans 10000000] [--codes 1000] [--runs 30]

Seeds the scans through ingest's own set-based SQL (the staging table, uniques, the idempotent
insert into the monthly partitions, every rollup), with rows generated in the database rather
than sent through Kafka (bench/analytics_ingest.py measures that part). Then times each chart
of the workspace dashboard and of the busiest code's page for the 7, 30 and 90 day ranges
and prints the p50 and p95 per chart. Target: p95 <= 150 ms per chart.
Uses its own database (BENCH_DATABASE_URL, default bench_analytics), dropped first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_common import make_bench_app, make_workspace

CHUNK = 500_000
SEED_ROWS = """
INSERT INTO analytics_ingest_staging (
    event_id, occurred_at, workspace_id, code_id, method, classification, reason, outcome,
    counted, is_unique, country, language, device, os, browser, referrer_domain, user_agent,
    visitor_hash, label_country, label_device, label_os, label_browser, label_referrer,
    label_language, label_reason, label_outcome)
SELECT md5(i::text)::uuid::text, at, :workspace, code, 'GET', class,
       CASE class WHEN 'bot' THEN 'Googlebot' WHEN 'preview' THEN 'WhatsApp'
                  WHEN 'head' THEN 'HEAD request' END,
       'redirected', true, false, country, lang, device, os, browser, referrer, NULL,
       left(md5((i % :visitors)::text || code::text), 32),
       coalesce(country, '(unknown)'), device, os, browser, coalesce(referrer, '(direct)'),
       coalesce(lang, '(unknown)'),
       CASE WHEN class <> 'human' THEN class || ': ' || CASE class WHEN 'bot' THEN 'Googlebot'
            WHEN 'preview' THEN 'WhatsApp' ELSE 'HEAD request' END END,
       'redirected'
FROM (
    SELECT i,
           :start + (i::float8 * :seconds / :total) * interval '1 second' AS at,
           1 + floor(:codes * power(random(), 2))::int AS code,
           CASE WHEN r < 0.85 THEN 'human' WHEN r < 0.93 THEN 'bot'
                WHEN r < 0.98 THEN 'preview' ELSE 'head' END AS class,
           (ARRAY['DE','FR','US','GB','NL','ES','IT','PL','SE',NULL])[1 + floor(random() * 10)::int]
               AS country,
           (ARRAY['de','fr','en','nl','es',NULL])[1 + floor(random() * 6)::int] AS lang,
           (ARRAY['mobile','mobile','mobile','tablet','desktop'])[1 + floor(random() * 5)::int]
               AS device,
           (ARRAY['iOS','Android','Windows','Mac OS X'])[1 + floor(random() * 4)::int] AS os,
           (ARRAY['Mobile Safari','Chrome Mobile','Chrome','Samsung Internet','Firefox'])
               [1 + floor(random() * 5)::int] AS browser,
           (ARRAY[NULL,NULL,'t.co','instagram.com','news.example','com.google.android.gm'])
               [1 + floor(random() * 6)::int] AS referrer
    FROM (SELECT i, random() AS r FROM generate_series(:first, :last) AS i) numbers
) generated
"""


def seed(app, workspace_id: int, total: int, codes: int) -> None:
    from sqlalchemy import text

    from qrp_analytics import ingest
    from qrplatform.extensions import db
    from qrplatform.tenancy import unscoped

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=90)
    with app.app_context(), unscoped():
        ingest.ensure_partitions([start + timedelta(days=d) for d in range(91)])
        db.session.execute(text("SELECT setseed(0.42)"))
        started = time.perf_counter()
        for first in range(0, total, CHUNK):
            connection = db.session.connection()
            connection.exec_driver_sql(ingest._STAGING_DDL)
            connection.exec_driver_sql(ingest._STAGING_INDEX)
            db.session.execute(text(SEED_ROWS), {
                "workspace": workspace_id, "start": start, "seconds": 90 * 86400,
                "total": total, "codes": codes, "visitors": max(total // 3, 1),
                "first": first, "last": min(first + CHUNK, total) - 1})
            connection.exec_driver_sql(ingest.ANALYZE_STAGING)
            connection.exec_driver_sql(ingest._MARK_UNIQUES)
            connection.exec_driver_sql(ingest._INSERT_SCANS)
            for statement in ingest._ROLLUPS:
                connection.exec_driver_sql(statement)
            db.session.commit()
            done = min(first + CHUNK, total)
            print(f"  seeded {done:,} scans ({done / (time.perf_counter() - started):,.0f}/s)",
                  flush=True)
        db.session.execute(text("ANALYZE"))
        db.session.commit()


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
    args = parser.parse_args()

    app = make_bench_app()
    workspace_id = make_workspace(app)
    print(f"seeding {args.scans:,} scans over 90 days on {args.codes:,} codes")
    seed(app, workspace_id, args.scans, args.codes)

    from sqlalchemy import func, select

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
    print(f"worst p95: {worst:.1f} ms (target <= 150 ms)")


if __name__ == "__main__":
    main()
