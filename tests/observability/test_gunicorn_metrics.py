"""/metrics under the production server: two gunicorn workers, each counting the requests it
served in its own files (Prometheus multiprocess mode), and whichever worker answers the
scrape reports the sum of both."""

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict

from qrplatform.testing.servers import gunicorn

from .helpers import value

COUNT = "qrp_http_request_duration_seconds_count"
BUCKET = "qrp_http_request_duration_seconds_bucket"


def get(port: int, path: str) -> tuple[int, bytes]:
    # A new connection each time, so the kernel hands requests to whichever worker accepts.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def healthz_counts_by_worker(folder: Path) -> dict[int, float]:
    """What each worker process wrote to its own file: /healthz requests served (a histogram
    file holds per-bucket counts, not cumulative ones, so their sum is the request count)."""
    counts = {}
    for path in folder.glob("histogram_*.db"):
        pid = int(path.stem.split("_")[-1])
        total = 0.0
        for key, count, _timestamp, _position in MmapedDict.read_all_values_from_file(
                str(path)):
            _metric, name, labels, _help = json.loads(key)
            if name == BUCKET and labels.get("route") == "/healthz":
                total += count
        counts[pid] = total
    return counts


@pytest.mark.slow
def test_metrics_add_up_the_requests_of_both_gunicorn_workers(app, db, database_url, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "histogram_999999.db").write_bytes(b"stale from an earlier run")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "QRP_PLUGINS": "qr"}
    # Sync workers take one request at a time, so concurrent requests must spread over both
    # (a gthread worker may accept them all); the multiprocess sums do not depend on it.
    with gunicorn(database_url, workers=2, env=env, args=("--worker-class", "sync")) as (
            port, _process), \
            ThreadPoolExecutor(max_workers=8) as pool:
        assert not (folder / "histogram_999999.db").exists()  # wiped when gunicorn starts
        sent = 0
        deadline = time.monotonic() + 30
        while True:
            statuses = list(pool.map(lambda _n: get(port, "/healthz")[0], range(24)))
            assert statuses == [200] * 24
            sent += len(statuses)
            by_worker = healthz_counts_by_worker(folder)
            if len([n for n in by_worker.values() if n > 0]) >= 2:
                break
            assert time.monotonic() < deadline, f"one worker served everything: {by_worker}"

        scrapes = [get(port, "/metrics") for _ in range(4)]  # answered by either worker
    assert len(by_worker) == 2 and sum(by_worker.values()) == sent
    for status, body in scrapes:
        assert status == 200
        assert value(body.decode(), COUNT, route="/healthz", method="GET",
                     status="200") == sent
