"""Worker recycling under load: gunicorn (our conf) with a small max_requests replaces each
worker twice over while scans and page requests keep coming; no request waits longer than a
second, and every scan a recycled worker answered is recorded."""

import http.client
import threading
import time

import pytest
from sqlalchemy import func, select

from qrplatform.testing.servers import gunicorn

pytestmark = pytest.mark.slow

MAX_REQUESTS = 150  # plus the conf's own jitter, up to half of it
CLIENTS = 4  # two per sync worker: both always busy, one request queued behind each
WORST_WAIT = 1.0


def timed_get(port: int, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def worker_pids(folder) -> set[int]:
    """Every worker that has served a page: each writes its metrics to files named after its
    process id, which stay after it is recycled."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("histogram_*.db")}


def test_no_request_waits_a_second_while_workers_recycle(api, db, database_url, tmp_path):
    from qrp_analytics.models import Scan
    from qrplatform.tenancy import unscoped

    code = api().post("/api/v1/qr-codes", json={
        "kind": "dynamic", "type": "url", "content": {"url": "https://example.com/menu"}}).json
    scan_path = "/r/" + code["short_url"].rsplit("/", 1)[1]
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {"GUNICORN_MAX_REQUESTS": str(MAX_REQUESTS), "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    stop = threading.Event()
    results: list[tuple[str, int, float]] = []

    def client(port: int, path: str) -> None:
        while not stop.is_set():
            results.append((path, *timed_get(port, path)))

    with gunicorn(database_url, workers=2, env=env) as (port, _process):
        assert timed_get(port, "/healthz")[0] == 200
        threads = [threading.Thread(target=client, args=(port, path))
                   for path in ("/healthz", scan_path) * (CLIENTS // 2)]
        for thread in threads:
            thread.start()
        try:
            # Two workers, each replaced twice: six processes have served.
            deadline = time.monotonic() + 45
            while len(worker_pids(folder)) < 6 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(35)
    served = len(worker_pids(folder))
    assert served >= 6, f"only {served} worker processes served in 45 s ({len(results)} requests)"
    assert {(path, status) for path, status, _ in results} == {("/healthz", 200),
                                                                (scan_path, 302)}
    worst = max(wait for _, _, wait in results)
    assert worst < WORST_WAIT, (f"a request waited {worst:.2f} s while workers recycled "
                                f"({len(results)} requests)")
    # Each worker handed its buffered scans to the analytics receiver before it went.
    with unscoped():
        recorded = db.session.scalar(select(func.count()).select_from(Scan))
    assert recorded == sum(path == scan_path for path, _, _ in results)
