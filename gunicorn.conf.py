"""Production server settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be overridden by the environment (GUNICORN_* below) or the command line.
"""

import atexit
import gc
import glob
import json
import multiprocessing
import os
import sys
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
# Recycling: off. There is no known leak, and a recycled worker starts with cold caches (the
# in-process short-link cache first of all). GUNICORN_MAX_REQUESTS=N replaces a worker after N
# requests plus a random extra of up to half of N (GUNICORN_MAX_REQUESTS_JITTER), so that
# workers, which share the load evenly, rarely come up for it together; and when they do, a
# new worker is a fork of the preloaded master, serving within a fraction of a second.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 0)
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER") or max_requests // 2)
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# The master builds the app once and every worker is a fork of it: a started or recycled worker
# imports nothing, and the workers share the master's memory pages. Building the app opens no
# connection and starts no thread; post_fork below makes sure of the rest. A new release needs
# a restart of the master (as a container restart does); GUNICORN_PRELOAD=0 turns it off.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"

# Requests are logged by the app, one JSON line each (qrplatform.telemetry: request id, route,
# status, duration, workspace, user), and scan redirects, which the app answers before Flask,
# as a sample (QR_REDIRECT_LOG_SAMPLE) with every one counted in /metrics; nginx logs every
# request anyway. GUNICORN_ACCESS_LOG=- adds gunicorn's own JSON access line on stdout, without
# the client IP (personal data, which nginx already has).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
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
# How long a worker's busy thread keeps the interpreter before the other may run (Python's
# default: 5 ms). A web worker's request thread shares it with the stream flush thread (which
# stores scans and page views in-process when there is no broker); at 5 ms a request that
# arrives during a flush waits up to that long at each of its turns (bench/microsites.py, no
# broker: p99 16.7 ms at 5 ms, 12.9 ms at 1 ms).
gil_switch_interval_ms = float(os.environ.get("GUNICORN_GIL_SWITCH_INTERVAL_MS") or 1)
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
    # Imported now, once: child_exit runs from the master's SIGCHLD handler, and two workers
    # exiting together would import it twice at once without a preloaded app (a half-built
    # module, and the master stops: seen in CI).
    import prometheus_client.multiprocess  # noqa: F401


def when_ready(server):
    """The master has built the app and forks no worker before this returns: what every worker
    would otherwise set up on its first request is set up once here (see before_fork). With no
    broker, the stream receiver is forked here too: the workers hand it their scans to store."""
    preloaded = sys.modules.get("wsgi")
    if preloaded is not None:
        from qrplatform.events.stream import start_receiver
        from qrplatform.processes import before_fork

        before_fork(preloaded.app)
        start_receiver(preloaded.app, server.LISTENERS)


def on_exit(server):
    """The workers are gone: the stream receiver (no broker) stores what they handed it, then
    ends (see qrplatform.events.receiver)."""
    preloaded = sys.modules.get("wsgi")
    if preloaded is not None:
        from qrplatform.events.stream import stop_receiver

        stop_receiver(preloaded.app)


def pre_fork(server, worker):
    """Objects the master made (wsgi froze the preloaded app itself; this takes what came
    since) are moved out of the garbage collector's sight: a worker's collections, the last
    one at its exit included, then never walk them, which would touch, and so copy, every
    memory page it shares with the master (seconds for a recycled worker to exit, while it
    holds its place)."""
    gc.freeze()


def post_fork(server, worker):
    """A worker forked from the master's preloaded app: nothing that talks over a socket may
    be shared with the master or a sibling."""
    sys.setswitchinterval(gil_switch_interval_ms / 1000)
    preloaded = sys.modules.get("wsgi")
    if preloaded is not None:
        from qrplatform.processes import after_fork

        after_fork(preloaded.app)


def child_exit(server, worker):
    """A worker is gone (restart, max_requests, crash): drop its live gauges; its counters stay
    in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """Flush buffered stream events (scans) before the worker goes away: SIGTERM loses none.

    Then a worker that stops normally (recycled, or the server stopping) ends at once, after
    what a normal exit runs first (the exit handlers: logging, Sentry, ...), instead of tearing
    down every module: that teardown writes to every object the worker shares with the master,
    copying page after page, and took a recycled worker from 0.1 to 1 s to leave (its
    replacement is forked only once it has)."""
    try:
        from wsgi import app
    except Exception:  # the app never loaded in this worker: nothing buffered
        return
    buffer = app.extensions.get("qrp.stream")
    if buffer is not None:
        buffer.close()
    stopping = sys.exc_info()[1]  # gunicorn calls this while the worker's SystemExit unwinds
    if worker.booted and isinstance(stopping, SystemExit) and stopping.code in (0, None):
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
