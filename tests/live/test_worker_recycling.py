"""Worker recycling under load: gunicorn (our conf) with a small max_requests replaces each
worker twice over while scans and page requests keep coming; no request waits longer than a
second, and every scan a recycled worker answered is recorded.

The load comes from a process of its own (qrplatform.testing.steady_load): clients inside the
test process were held by its garbage collections and its other work, and on a busy machine
(the CI run) reported waits of 1.3-1.8 s that were not the server's. A machine can also be so
busy that every request is slow: the limit is then STALL_FACTOR times the run's own median
wait, when that is more than a second. What a stall looks like is the second test: workers that
recycle together and take seconds to import leave nothing serving for that long, and the same
check must fail there.
"""

import http.client
import json
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from qrplatform import PROJECT_ROOT
from qrplatform.testing.servers import app_environment, free_port, gunicorn, server_errors

pytestmark = pytest.mark.slow

MAX_REQUESTS = 150  # plus the conf's own jitter, up to half of it
CLIENTS = 4  # two per sync worker: both always busy, one request queued behind each
WORST_WAIT = 1.0
# A worker recycled without a stall costs its queued request a fork and a few requests' time;
# a median request is two requests' service time (one queued behind the other). 25 medians is
# 1 s at a median of 40 ms, several times what this machine shows unloaded.
STALL_FACTOR = 25
WARM_UPS = 4  # requests of each path before the load starts
SLOW_IMPORT = 2.0  # seconds, in the stall test: what the issue measured was 3.5-4.3 s


def worker_pids(folder) -> set[int]:
    """Every worker that has served a page: each writes its metrics to files named after its
    process id, which stay after it is recycled."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("histogram_*.db")}


def wait_until_served(port: int, paths, timeout: float = 60.0) -> None:
    """Until a worker answers (without preload, workers import the app before they accept),
    then each path a few times: the first workers' first requests (connections opened after
    the fork, caches filled) are the server starting, not recycling; a recycled worker's are
    measured."""
    for path in ("/healthz", *sorted(set(paths)) * WARM_UPS):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("GET", path)
            assert connection.getresponse().status in (200, 302)
        finally:
            connection.close()


def recycle_under_load(database_url, tmp_path, paths, *, processes: int, env=None,
                       app="wsgi:app") -> tuple[int, list, dict]:
    """Serve with two workers and a small max_requests, and keep ``paths`` requested (one
    client each) until ``processes`` workers have served; the workers that served, every
    request as ``(path, status, started, waited)``, and the clients' connection errors."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {"GUNICORN_MAX_REQUESTS": str(MAX_REQUESTS), "PROMETHEUS_MULTIPROC_DIR": str(folder),
           **(env or {})}
    with gunicorn(database_url, workers=2, env=env, app=app) as (port, process):
        wait_until_served(port, paths)
        load = subprocess.Popen(
            [sys.executable, "-m", "qrplatform.testing.steady_load", str(port), *paths],
            cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while len(worker_pids(folder)) < processes and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            output, _ = load.communicate(b"stop\n", timeout=60)
        load = json.loads(output)
        if len(worker_pids(folder)) < processes:  # say what the server said
            load["errors"]["server log"] = server_errors(process)
    return len(worker_pids(folder)), load["requests"], load["errors"]


def stall(results: list) -> tuple[float, float, str]:
    """The longest wait, the most a wait may be in this run, and both said in words."""
    waits = sorted(waited for *_, waited in results)
    median = waits[len(waits) // 2]
    limit = max(WORST_WAIT, STALL_FACTOR * median)
    worst = max(results, key=lambda result: result[3])
    return worst[3], limit, (
        f"the longest wait was {worst[3]:.2f} s ({worst[0]}, "
        f"{worst[2] - results[0][2]:.1f} s into the run), the limit {limit:.2f} s; median "
        f"{median * 1000:.1f} ms over {len(results)} requests")


def make_scan_path(api) -> str:
    code = api().post("/api/v1/qr-codes", json={
        "kind": "dynamic", "type": "url", "content": {"url": "https://example.com/menu"}}).json
    return "/r/" + code["short_url"].rsplit("/", 1)[1]


def test_no_request_waits_a_second_while_workers_recycle(api, db, database_url, tmp_path):
    from qrp_analytics.models import Scan
    from qrplatform.tenancy import unscoped

    scan_path = make_scan_path(api)
    # Two workers, each replaced twice: six processes have served.
    served, results, errors = recycle_under_load(
        database_url, tmp_path, ("/healthz", scan_path) * (CLIENTS // 2), processes=6)
    assert served >= 6, (f"only {served} worker processes served in 60 s ({len(results)} "
                         f"requests; connection errors: {errors})")
    assert {(path, status) for path, status, *_ in results} == {("/healthz", 200),
                                                                 (scan_path, 302)}, errors
    worst, limit, said = stall(results)
    assert worst <= limit, f"a request waited while workers recycled: {said}"
    # Each worker handed its buffered scans to the analytics receiver before it went.
    with unscoped():
        recorded = db.session.scalar(select(func.count()).select_from(Scan))
    assert recorded == WARM_UPS + sum(path == scan_path for path, *_ in results)


def test_the_check_sees_workers_that_recycle_together_and_import_slowly(
        api, db, database_url, tmp_path):
    """The issue's stall, made on purpose: no preload (each new worker imports the app), no
    jitter (the two workers come up for recycling together), an import that takes seconds."""
    (tmp_path / "slow_wsgi.py").write_text(
        f"import time\n\ntime.sleep({SLOW_IMPORT})\n\nfrom wsgi import app  # noqa: E402,F401\n")
    scan_path = make_scan_path(api)
    served, results, errors = recycle_under_load(
        database_url, tmp_path, ("/healthz", scan_path) * (CLIENTS // 2), processes=4,
        app="slow_wsgi:app",
        env={"GUNICORN_PRELOAD": "0", "GUNICORN_MAX_REQUESTS_JITTER": "0",
             "PYTHONPATH": str(tmp_path)})
    assert served >= 4, (f"only {served} worker processes served in 60 s ({len(results)} "
                         f"requests; connection errors: {errors})")
    worst, limit, said = stall(results)
    assert worst > limit, f"the check missed a stall: {said}"
    assert worst >= SLOW_IMPORT


PREPARE = """
from wsgi import app
from qrplatform.processes import before_fork
from qrplatform.extensions import db

before_fork(app)
with app.app_context():
    print(all(mapper.configured for mapper in db.Model.registry.mappers),
          db.engine.dialect.server_version_info is not None, db.engine.pool.checkedout())
"""


@pytest.mark.parametrize("reachable", [True, False], ids=["database up", "database down"])
def test_the_master_prepares_once_what_each_worker_would_on_its_first_request(
        database_url, reachable):
    """What a recycled worker's first caller waited for (mappers configured, the dialect's
    first connection) is done in the master; no connection stays open there to be shared with
    the workers, and a database that is down when the server starts does not stop it."""
    url = database_url if reachable else f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    done = subprocess.run([sys.executable, "-c", PREPARE], cwd=PROJECT_ROOT,
                          env=app_environment(url), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    *log, said = done.stdout.splitlines()  # the app logs JSON lines on stdout
    assert said.split() == ["True", str(reachable), "0"], done.stderr[-2000:]
    if not reachable:
        assert "database not reachable before forking workers" in "".join(log)
