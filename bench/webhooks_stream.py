"""Scans into webhooks: how many scans per second the ``webhooks_stream`` receiver takes for a
workspace with a subscribed endpoint, against analytics' ingest of the same events (same run).

    .venv/bin/python bench/webhooks_stream.py [--events 50000] [--batch 2000] [--endpoints 1]

Each batch of scan events (a consumer's poll) goes through ``services.collect_stream``: the
idempotent insert of every scan for every subscribed endpoint, the window bookkeeping, and —
since a busy endpoint fills ``QRP_WEBHOOK_BATCH_MAX`` (1000) scans long before its window
closes — sealing those into deliveries and sending them, signed, to a local receiver (jobs run
inline, as in the tests). The baseline is ``qrp_analytics.ingest.ingest_batch`` on the same
events. Uses its own database (BENCH_DATABASE_URL, default bench_webhooks), dropped first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("BENCH_DATABASE_URL",
                      "postgresql+psycopg://postgres@127.0.0.1:5432/bench_webhooks")

from analytics_common import make_bench_app, make_workspace, scan_events


def receiver_app(environ, start_response):
    received = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    receiver_app.requests += 1
    receiver_app.scans += received.count(b'"timestamp"') - 1
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


receiver_app.requests = receiver_app.scans = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=2000, help="events per consumer poll")
    parser.add_argument("--endpoints", type=int, default=1,
                        help="endpoints of the workspace subscribed to qr.scanned")
    args = parser.parse_args()

    from sqlalchemy import func, select, text

    from qrp_analytics.ingest import ingest_batch
    from qrplatform import encryption
    from qrplatform.extensions import db
    from qrplatform.tenancy import tenant_scope, unscoped
    from qrplatform.testing.servers import thread_server
    from qrplatform.webhooks import services
    from qrplatform.webhooks.models import WebhookDelivery, WebhookEndpoint

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    app = make_bench_app(QRP_NETGUARD_ALLOW_NETWORKS=["127.0.0.0/8"],
                         QRP_WEBHOOK_BATCH_WINDOW=3600.0)
    workspace_id = make_workspace(app)
    events = list(scan_events([workspace_id], args.events, 100,
                              datetime.now(UTC) - timedelta(hours=1), timedelta(hours=1)))
    with thread_server(receiver_app) as base_url, app.app_context():
        with tenant_scope(workspace_id):
            for n in range(args.endpoints):
                db.session.add(WebhookEndpoint(
                    url=f"{base_url}/hooks/{n}", event_types=["qr.scanned"],
                    secret_encrypted=encryption.encrypt("whsec_" + "QUJD" * 8)))
            db.session.commit()

        started = time.perf_counter()
        with unscoped():
            for i in range(0, len(events), args.batch):
                services.collect_stream(events[i:i + args.batch])
        for endpoint_id in range(1, args.endpoints + 1):  # what the last window holds
            with tenant_scope(workspace_id):
                services.seal_window(endpoint_id)
        webhooks_seconds = time.perf_counter() - started
        with unscoped():
            deliveries = db.session.scalar(select(func.count()).select_from(WebhookDelivery))
            db.session.rollback()

        started = time.perf_counter()
        with unscoped():
            for i in range(0, len(events), args.batch):
                ingest_batch(events[i:i + args.batch])
        ingest_seconds = time.perf_counter() - started
        with unscoped():
            db.session.execute(text("SELECT 1"))
            db.session.rollback()

    print(f"{len(events):,} scans, batches of {args.batch:,}, {args.endpoints} endpoint(s)")
    print(f"webhooks_stream (collect, seal, sign, send): {webhooks_seconds:.1f} s = "
          f"{len(events) / webhooks_seconds:,.0f} scans/s; {deliveries} deliveries, "
          f"{receiver_app.requests} requests received carrying {receiver_app.scans:,} scans")
    print(f"baseline, analytics ingest_batch on the same events: {ingest_seconds:.1f} s = "
          f"{len(events) / ingest_seconds:,.0f} scans/s")
    print(f"ratio webhooks / analytics time: {webhooks_seconds / ingest_seconds:.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
