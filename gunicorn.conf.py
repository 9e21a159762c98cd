"""Production server settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be overridden by the environment (GUNICORN_* below) or the command line.
"""

import glob
import json
import multiprocessing
import os
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers, 2n+1 by CPU count: nginx in front buffers slow clients, so a worker is never
# held by one, and sync gave the scan redirect its best tail latency (bench/redirect.py:
# p99 12 ms vs 34 ms for gthread at the same throughput). GUNICORN_WORKER_CLASS=gthread
# (with GUNICORN_THREADS) suits a deployment without a buffering proxy.
workers = int(os.environ.get("GUNICORN_WORKERS") or multiprocessing.cpu_count() * 2 + 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# Graceful: a worker gets this long to finish its requests on reload or SIGTERM.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
preload_app = False

# Access log as one JSON object per line, on stdout. No client IP: it is personal data and
# nginx already knows it; the request id ties this line to the app's own log lines.
accesslog = "-"
access_log_format = json.dumps({
    "logger": "gunicorn.access",
    "time": "%(t)s",
    "request_id": "%({x-request-id}o)s",
    "method": "%(m)s",
    "path": "%(U)s",
    "status": "%(s)s",
    "bytes": "%(B)s",
    "duration_ms": "%(M)s",
    "user_agent": "%(a)s",
})
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Prometheus multiprocess mode: each worker writes its counts under this folder and /metrics
# adds up every worker's, whichever worker answers. Set before any worker imports
# prometheus_client; a fresh private folder when the environment does not name one.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="qrplatform-prometheus-")


def on_starting(server):
    """Counts left by a previous run of this server would be added to ours: start from zero."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):
        os.remove(stale)


def child_exit(server, worker):
    """A worker is gone (restart, max_requests, crash): drop its live gauges; its counters stay
    in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """Flush buffered stream events (scans) before the worker goes away: SIGTERM loses none."""
    try:
        from wsgi import app
    except Exception:  # the app never loaded in this worker: nothing buffered
        return
    buffer = app.extensions.get("qrp.stream")
    if buffer is not None:
        buffer.close()
