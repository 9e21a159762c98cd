"""Ingest rate: scan events from Kafka (a real Tansu broker) into PostgreSQL, scans per second.

    .venv/bin/python bench/analytics_ingest.py [--events 200000] [--codes 1000]

Produces the events to qrp.scans first (not timed), then times ``flask events consume
analytics --once`` (``run_consumer``) reading them: JSON decoding, classification, workspace
rules, device parsing, the idempotent insert into the partitioned raw table, uniques and all
rollups. Uses its own database (BENCH_DATABASE_URL, default bench_analytics), dropped first.
Target: >= 10,000 scans/s on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_common import make_bench_app, make_workspace, scan_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--codes", type=int, default=1000)
    parser.add_argument("--batch-bytes", type=int, default=1024 * 1024,
                        help="producer record batch size")
    parser.add_argument("--linger-ms", type=int, default=500,
                        help="how long the producer fills a batch")
    args = parser.parse_args()

    from kafka import KafkaProducer

    from qrplatform.events.kafka import KafkaSender, run_consumer
    from qrplatform.testing.kafka import KAFKA_TEST_CONFIG, TansuBroker

    broker = TansuBroker()
    broker.start()
    try:
        app = make_bench_app(**{**KAFKA_TEST_CONFIG, "QRP_KAFKA_ONCE_TIMEOUT": 600.0,
                                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                                "QRP_KAFKA_GROUP_PREFIX": f"bench-{uuid.uuid4().hex[:6]}.",
                                "QRP_STREAM_SPOOL_PATH": "/tmp/qrp-bench-spool.sqlite3"})
        workspace_id = make_workspace(app)
        now = datetime.now(UTC)
        events = list(scan_events(workspace_id, args.events, args.codes,
                                  now - timedelta(hours=6), timedelta(hours=6)))
        started = time.perf_counter()
        with app.app_context():
            # The topic as the core creates it (partitions, replication), then large record
            # batches: the stream sink of many web processes fills them just the same.
            KafkaSender(app.config).close()
            from kafka.admin import KafkaAdminClient

            from qrplatform.events.kafka import client_options, create_topics

            with KafkaAdminClient(**client_options(app.config)) as admin:
                create_topics(admin, {"qrp.scans"}, app.config)
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                                     batch_size=args.batch_bytes, linger_ms=args.linger_ms,
                                     max_request_size=8 * 1024 * 1024)
            for event in events:
                producer.send("qrp.scans", key=event.key, value=event.to_json().encode())
            producer.flush()
            producer.close()
        print(f"produced {len(events):,} events in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        stats = run_consumer(app, "analytics", once=True)
        elapsed = time.perf_counter() - started
        with app.app_context():
            from sqlalchemy import func, select

            from qrp_analytics.models import CodeDaily, Scan
            from qrplatform.extensions import db
            from qrplatform.tenancy import unscoped

            with unscoped():
                stored = db.session.scalar(select(func.count()).select_from(Scan))
                counted = db.session.scalar(select(func.sum(CodeDaily.scans)))
        print(f"consumed {stats.batched:,} events; {stored:,} raw scans, {counted:,} counted "
              f"in the rollups")
        print(f"ingest from Kafka: {elapsed:.1f} s (including ~2 s to join the consumer "
              f"group) = {stored / elapsed:,.0f} scans/s")
        # The same events again, straight into ingest_batch on an emptied database: the
        # plugin's share of the work, without the broker and the consumer loop.
        with app.app_context(), unscoped():
            from sqlalchemy import text

            from qrp_analytics.ingest import ingest_batch

            db.session.execute(text(
                "TRUNCATE analytics_scans, analytics_code_hourly, analytics_code_daily, "
                "analytics_workspace_hourly, analytics_code_breakdown, "
                "analytics_workspace_breakdown, analytics_daily_visitors"))
            db.session.commit()
            started = time.perf_counter()
            for i in range(0, len(events), 2000):
                ingest_batch(events[i:i + 2000])
            elapsed = time.perf_counter() - started
        print(f"ingest_batch alone (batches of 2,000): {elapsed:.1f} s = "
              f"{len(events) / elapsed:,.0f} scans/s")

        app.extensions["qrp.stream"].close()
        app.extensions["qrp.events"].close()
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
