"""Prometheus metrics, served at /metrics to allowed networks or a Bearer token.

Counted as things happen (prometheus-flask-exporter and our own counters):

- ``qrp_http_request_duration_seconds{method, route, status}`` (and ``qrp_http_request_total``,
  ``qrp_http_request_exceptions_total``): every Flask request; ``route`` is the URL rule
  (``/api/v1/qr-codes/<int:code_id>``), never the path;
- ``qrp_rate_limit_hits_total{route, scope}``: 429 answers; scope ``workspace`` or
  ``anonymous`` (keyed by IP) — counted by the gateway, which declares it;
- ``qrp_errors_total{route, exception}``: unhandled exceptions (``got_request_exception``);
- every metric a plugin declares (``Plugin.metrics``; the qr plugin's ``qrp_scans_total``),
  counted with ``metric(name, app).labels(...).inc()``;
- ``qrp_job_duration_seconds{job, outcome}`` and ``qrp_job_failures_total{job}``: job attempts.
  With RQ these are kept in Redis (``RedisJobStats``): RQ runs each job in a forked work horse
  that lives for one job, in worker containers Prometheus does not scrape, so every web
  worker reports the totals of all of them instead.

Measured when Prometheus scrapes (the same value whichever worker answers):

- ``qrp_events_outbox_backlog``, ``qrp_events_outbox_oldest_age_seconds`` (the relay's lag),
  ``qrp_events_stream_spool_backlog`` — ``qrplatform.events.outbox.EventBacklogCollector``;
- ``qrp_jobs_queue_depth{queue}``: jobs waiting in each queue;
- ``qrp_events_consumer_lag{group, topic}``: events on Kafka a consumer group has not
  committed yet (only with KAFKA_BOOTSTRAP_SERVERS; measured every
  QRP_METRICS_KAFKA_LAG_INTERVAL seconds);
- ``qrp_webhook_deliveries_pending``, ``qrp_webhook_oldest_due_seconds``: webhook deliveries
  waiting, and how late the most overdue one is (``qrplatform.webhooks``, which adds its
  collector with ``add_scrape_collector``).

Every label value is bounded: route templates, outcomes, job names, plugin groups — never a
path, a short code, a workspace or a user.

Under gunicorn (several worker processes) ``PROMETHEUS_MULTIPROC_DIR`` must be set
(gunicorn.conf.py does it): each worker writes its counts to files there and /metrics adds up
every worker's files, whichever worker answers the scrape.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterable

from flask import Flask, current_app, g, got_request_exception, has_app_context, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from qrplatform.plugins import Metric

log = logging.getLogger(__name__)

EXTENSION = "qrp.metrics"
METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "unmatched"
# Seconds; from a cached redirect (milliseconds) to a slow export page.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def route(req) -> str:
    """The label for a request: its URL rule, so /qr-codes/7 and /qr-codes/8 are one series.
    (prometheus-flask-exporter names the label after this function.)"""
    return req.url_rule.rule if req.url_rule is not None else UNMATCHED_ROUTE


class Metrics:
    """One app's metrics. Each app gets its own registry, so that several apps in one process
    (tests) never share counters; under gunicorn there is one app per worker process."""

    def __init__(self, app: Flask):
        from prometheus_flask_exporter import PrometheusMetrics

        self.app = app
        self.registry = CollectorRegistry()
        # path=None: /metrics is answered by MetricsEndpoint, in front of the gateway.
        self.exporter = PrometheusMetrics(
            app, path=None, registry=self.registry, defaults_prefix="qrp", group_by=route,
            buckets=HTTP_BUCKETS,
        )
        self.errors = Counter(
            "qrp_errors_total", "Unhandled exceptions while answering a request",
            ["route", "exception"], registry=self.registry)
        # Metric name -> the Counter or Histogram a plugin (or the core) declared.
        self.declared: dict[str, Counter | Histogram] = {}
        self._job_stats: LocalJobStats | RedisJobStats | None = None
        self._job_stats_lock = threading.Lock()
        self.scrape_collectors: list[Collector] = [
            _event_backlog_collector(), JobQueueCollector(app), ConsumerLagCollector(app),
            SharedJobStatsCollector(self)]
        if multiprocess_dir() is None:
            for collector in self.scrape_collectors:
                self.registry.register(collector)

    def declare(self, metric: Metric) -> Counter | Histogram:
        """Create a declared metric on this app's registry. Counters and histograms are
        written to PROMETHEUS_MULTIPROC_DIR like the core's, so every worker adds up."""
        if metric.kind == "counter":
            made = Counter(metric.name, metric.documentation, list(metric.labels),
                           registry=self.registry)
        elif metric.kind == "histogram":
            made = Histogram(metric.name, metric.documentation, list(metric.labels),
                             buckets=metric.buckets or Histogram.DEFAULT_BUCKETS,
                             registry=self.registry)
        else:
            raise ValueError(f"metric {metric.name}: kind {metric.kind!r} is not counter or "
                             "histogram")
        self.declared[metric.name] = made
        return made

    @property
    def job_stats(self) -> LocalJobStats | RedisJobStats:
        """Where job attempts are counted: Redis when RQ runs the jobs, else this process
        (decided on first use: the job runner is set up after the metrics)."""
        if self._job_stats is None:
            with self._job_stats_lock:
                if self._job_stats is None:
                    # An RQ runner has Redis: its forked work horses count there.
                    redis = getattr(self.app.extensions.get("qrp.jobs.runner"), "redis", None)
                    self._job_stats = (RedisJobStats(redis) if redis is not None
                                       else LocalJobStats(self.registry))
        return self._job_stats

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The text Prometheus reads: every worker's counts plus the scrape-time gauges."""
        if multiprocess_dir() is None:
            registry = self.registry
        else:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            for collector in self.scrape_collectors:
                registry.register(collector)
        encoder, content_type = choose_encoder(accept)
        with self.app.app_context():
            return encoder(registry), content_type


def _event_backlog_collector() -> Collector:
    from qrplatform.events.outbox import EventBacklogCollector

    return EventBacklogCollector()


class LocalJobStats:
    """Job attempts run by this process (the embedded job thread, inline jobs in tests)."""

    def __init__(self, registry: CollectorRegistry):
        self.duration = Histogram(
            "qrp_job_duration_seconds", "Duration of each job attempt",
            ["job", "outcome"], buckets=JOB_BUCKETS, registry=registry)
        self.failures = Counter("qrp_job_failures_total", "Job attempts that raised", ["job"],
                                registry=registry)

    def observe(self, job: str, outcome: str, duration: float) -> None:
        self.duration.labels(job=job, outcome=outcome).observe(duration)
        if outcome != "finished":
            self.failures.labels(job=job).inc()

    def collect(self) -> Iterable:
        return ()  # exported through the registry (or the multiprocess files)


class RedisJobStats:
    """Job attempts counted in one Redis hash, shared by every worker and work horse.

    Fields: ``count|job|outcome``, ``sum|job|outcome``, ``bucket|job|outcome|le`` (already
    cumulative) and ``failures|job``. Counters in Redis only grow, as Prometheus expects.
    """

    KEY = "qrp:metrics:jobs"

    def __init__(self, redis):
        self.redis = redis

    def observe(self, job: str, outcome: str, duration: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(self.KEY, f"count|{job}|{outcome}", 1)
        pipe.hincrbyfloat(self.KEY, f"sum|{job}|{outcome}", duration)
        for bound in JOB_BUCKETS:
            if duration <= bound:
                pipe.hincrby(self.KEY, f"bucket|{job}|{outcome}|{bound}", 1)
        if outcome != "finished":
            pipe.hincrby(self.KEY, f"failures|{job}", 1)
        pipe.execute()

    def collect(self) -> Iterable:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        fields = {key.decode(): float(value)
                  for key, value in self.redis.hgetall(self.KEY).items()}
        duration = HistogramMetricFamily("qrp_job_duration_seconds",
                                         "Duration of each job attempt", labels=["job", "outcome"])
        failures = CounterMetricFamily("qrp_job_failures_total", "Job attempts that raised",
                                       labels=["job"])
        for key, value in sorted(fields.items()):
            kind, _, rest = key.partition("|")
            if kind == "count":
                job, outcome = rest.split("|")
                buckets = [(str(bound), fields.get(f"bucket|{job}|{outcome}|{bound}", 0.0))
                           for bound in JOB_BUCKETS]
                duration.add_metric([job, outcome], [*buckets, ("+Inf", value)],
                                    sum_value=fields.get(f"sum|{job}|{outcome}", 0.0))
            elif kind == "failures":
                failures.add_metric([rest], value)
        yield duration
        yield failures


class SharedJobStatsCollector(Collector):
    """Exports RedisJobStats at scrape time (nothing when jobs are counted in-process)."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterable:
        try:
            yield from self.metrics.job_stats.collect()
        except Exception:
            log.warning("job metrics unavailable", exc_info=True)


class JobQueueCollector(Collector):
    """``qrp_jobs_queue_depth{queue}``: RQ's queue lengths (or the embedded thread's queue)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("qrp_jobs_queue_depth", "Jobs waiting to be run",
                                   labels=["queue"])
        runner = self.app.extensions.get("qrp.jobs.runner")
        try:
            depths = runner.depth() if runner is not None else {}
        except Exception:
            log.warning("job queue depth unavailable", exc_info=True)
            depths = {}
        for queue, depth in sorted(depths.items()):
            family.add_metric([queue], depth)
        yield family


class ConsumerLagCollector(Collector):
    """``qrp_events_consumer_lag{group, topic}``: end offset minus committed offset, summed
    over a topic's partitions, for every receiver group of this app.

    Asking the broker takes a few round trips, so the answer is kept for
    QRP_METRICS_KAFKA_LAG_INTERVAL seconds; a broker that does not answer leaves the family
    empty (and the outbox backlog shows the outage).
    """

    def __init__(self, app: Flask):
        self.app = app
        self._lock = threading.Lock()
        self._measured_at = float("-inf")
        self._lags: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "qrp_events_consumer_lag",
            "Events on Kafka that a consumer group has not processed yet",
            labels=["group", "topic"])
        if self.app.config.get("KAFKA_BOOTSTRAP_SERVERS"):
            for (group, topic), lag in sorted(self._current().items()):
                family.add_metric([group, topic], lag)
        yield family

    def _current(self) -> dict[tuple[str, str], int]:
        interval = float(self.app.config.get("QRP_METRICS_KAFKA_LAG_INTERVAL") or 0)
        with self._lock:
            if time.monotonic() - self._measured_at >= interval:
                try:
                    self._lags = self.measure()
                except Exception as exc:
                    log.warning("consumer lag unavailable: %s: %s", type(exc).__name__, exc)
                    self._lags = {}
                self._measured_at = time.monotonic()
            return dict(self._lags)

    def measure(self) -> dict[tuple[str, str], int]:
        from kafka import KafkaAdminClient, OffsetSpec, TopicPartition

        from qrplatform.events import dispatch
        from qrplatform.events.kafka import client_options, group_id, setting

        config = self.app.config
        with self.app.app_context():
            wanted = {group: dispatch.topics_for_group(group, self.app)
                      for group in sorted({r.group for r in dispatch.registered(self.app)})}
        timeout_ms = int(setting(config, "QRP_KAFKA_TIMEOUT_MS"))
        lags: dict[tuple[str, str], int] = {}
        with KafkaAdminClient(**client_options(config), client_id="qrp-metrics",
                              request_timeout_ms=timeout_ms) as admin:
            existing = set(admin.list_topics())
            topics = sorted({t for group_topics in wanted.values() for t in group_topics}
                            & existing)
            if not topics:
                return lags
            partitions = [TopicPartition(t["name"], p["partition_index"])
                          for t in admin.describe_topics(topics) for p in t["partitions"]]
            latest = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
            earliest = admin.list_partition_offsets(
                {tp: OffsetSpec.EARLIEST for tp in partitions})
            for group, group_topics in wanted.items():
                committed = admin.list_group_offsets({group_id(config, group): None}).get(
                    group_id(config, group), {})
                for tp in partitions:
                    if tp.topic not in group_topics:
                        continue
                    done = committed.get(tp)
                    # A group that never committed on a partition will read it from the start.
                    start = done.offset if done is not None and done.offset >= 0 \
                        else earliest[tp].offset
                    key = (group, tp.topic)
                    lags[key] = lags.get(key, 0) + max(0, latest[tp].offset - start)
        return lags


# -- counting, from the request hooks and from the few places that know an outcome ------------

def _metrics(app: Flask | None = None) -> Metrics | None:
    if app is None:
        if not has_app_context():
            return None
        app = current_app
    return app.extensions.get(EXTENSION)


def add_scrape_collector(app: Flask, collector: Collector) -> None:
    """Gauges measured when Prometheus scrapes (counted in the database, say, so that every
    worker answers the same), for a core facility wired after the metrics."""
    metrics = app.extensions[EXTENSION]
    metrics.scrape_collectors.append(collector)
    if multiprocess_dir() is None:
        metrics.registry.register(collector)


def declare_all(app: Flask, declared: Iterable[Metric]) -> None:
    for metric in declared:
        app.extensions[EXTENSION].declare(metric)


def metric(name: str, app: Flask | None = None) -> Counter | Histogram:
    """A metric declared in ``Plugin.metrics``, on ``app`` (default the current app; pass it
    where there is no app context, as in WSGI middleware)::

        metrics.metric("qrp_scans_total", app).labels(outcome="redirected", ...).inc()
    """
    metrics = _metrics(app)
    if metrics is None or name not in metrics.declared:
        raise KeyError(f"metric {name!r} is not declared by any enabled plugin")
    return metrics.declared[name]


def observe_job(name: str, outcome: str, duration: float) -> None:
    """One job attempt; ``name`` is a registered job name (or "unregistered": bounded)."""
    metrics = _metrics()
    if metrics is None:
        return
    try:
        metrics.job_stats.observe(name, outcome, duration)
    except Exception:  # a metrics store that is away must not fail the job
        log.warning("could not record job metrics", exc_info=True)


def _count_error(sender: Flask, exception: BaseException, **_extra) -> None:
    metrics = sender.extensions.get(EXTENSION)
    # Flask and errors.handle_unexpected may both report one exception: count it once.
    if metrics is None or g.get("qrp_counted_exception") is exception:
        return
    g.qrp_counted_exception = exception
    metrics.errors.labels(route=route(request), exception=type(exception).__name__).inc()


# -- /metrics ------------------------------------------------------------------------------------

class MetricsEndpoint:
    """WSGI layer answering GET /metrics before Flask: no session, tenant gateway or rate limit
    (a scraper's Bearer token is not an API token), and scrapes do not count as traffic.

    Allowed: a caller whose address is in QRP_METRICS_ALLOWED_NETWORKS, or one sending
    ``Authorization: Bearer <QRP_METRICS_TOKEN>``. It sits inside ProxyFix, so with
    QRP_PROXY_HOPS the address is the real client's; without trusted hops, a request that came
    through a proxy (X-Forwarded-For) is never let in by address, since the proxy's own
    address would otherwise open /metrics to everyone behind it.
    """

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app
        self.token = app.config.get("QRP_METRICS_TOKEN") or None
        self.networks = [ipaddress.ip_network(n, strict=False)
                         for n in app.config.get("QRP_METRICS_ALLOWED_NETWORKS") or ()]
        self.trusts_forwarded = bool(app.config.get("QRP_PROXY_HOPS"))

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != METRICS_PATH:
            return self.wsgi_app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", b"GET only\n",
                          [("Allow", "GET, HEAD")])
        if not self.allowed(environ):
            return _plain(start_response, "403 Forbidden",
                          b"/metrics is for the monitoring network or a Bearer token\n", [])
        body, content_type = self.app.extensions[EXTENSION].exposition(
            environ.get("HTTP_ACCEPT"))
        start_response("200 OK", [("Content-Type", content_type),
                                  ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]

    def allowed(self, environ) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if self.token and header[:7].lower() == "bearer " and hmac.compare_digest(
                header[7:].strip().encode(), self.token.encode()):
            return True
        if environ.get("HTTP_X_FORWARDED_FOR") and not self.trusts_forwarded:
            return False
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR") or "")
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def _plain(start_response, status: str, body: bytes, headers: list):
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))), *headers])
    return [body]


def init_app(app: Flask) -> Metrics:
    metrics = Metrics(app)
    app.extensions[EXTENSION] = metrics
    got_request_exception.connect(_count_error, app, weak=False)
    return metrics


def endpoint_middleware(app: Flask, wsgi_app):
    """MetricsEndpoint in front of Flask (the outermost layer inside ProxyFix), so /metrics
    never reaches a plugin's middleware or the gateway."""
    # Where job metrics live depends on the runner: settle it now, so the first scrape
    # already declares them.
    app.extensions[EXTENSION].job_stats  # noqa: B018
    return MetricsEndpoint(wsgi_app, app)
