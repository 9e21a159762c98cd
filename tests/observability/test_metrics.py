"""/metrics: who may read it, what it counts (with bounded labels), and the scrape-time gauges
for the outbox, the job queues and Kafka consumer lag."""

import pytest

from qrplatform import events, jobs
from qrplatform.events import dispatch
from qrplatform.events.outbox import drain
from qrplatform.extensions import db as database

from .conftest import bearer_token
from .helpers import samples, scrape, value

OUTSIDER = "198.51.100.7"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


# -- who may read it ------------------------------------------------------------------------------

def test_metrics_are_open_to_the_allowed_networks_only(make_app, db):
    client = make_app().test_client()
    assert client.get("/metrics").status_code == 200  # loopback, the default network
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": OUTSIDER})
    assert refused.status_code == 403
    assert "qrp_" not in refused.get_data(as_text=True)
    # nginx in front and no trusted hop: the proxy's loopback address must not let it in.
    assert client.get("/metrics", headers={"X-Forwarded-For": OUTSIDER}).status_code == 403
    assert client.post("/metrics").status_code == 405


def test_a_bearer_token_opens_metrics_from_anywhere(make_app, db):
    client = make_app(QRP_METRICS_TOKEN="scrape-secret-1").test_client()
    outside = {"REMOTE_ADDR": OUTSIDER}
    ok = client.get("/metrics", environ_base=outside,
                    headers={"Authorization": "Bearer scrape-secret-1"})
    assert ok.status_code == 200  # not mistaken for an API token by the gateway
    assert "qrp_events_outbox_backlog" in ok.get_data(as_text=True)
    for header in ("Bearer scrape-secret-2", "Bearer ", "Basic c2NyYXBl"):
        assert client.get("/metrics", environ_base=outside,
                          headers={"Authorization": header}).status_code == 403


def test_behind_trusted_proxies_the_real_client_address_decides(make_app, db):
    client = make_app(QRP_PROXY_HOPS=1, QRP_METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"]
                      ).test_client()
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.20.30.40"}
                      ).status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": OUTSIDER}).status_code == 403


# -- what it counts -------------------------------------------------------------------------------

def test_request_durations_are_labelled_by_route_template_never_by_path(make_app, db,
                                                                       create_user):
    app = make_app()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {bearer_token(create_user())}"}
    for code_id in (101, 102, 103):
        assert client.get(f"/api/v1/qr-codes/{code_id}", headers=headers).status_code == 404
    client.get("/no/such/page/42")
    text = scrape(client)

    assert value(text, "qrp_http_request_duration_seconds_count", method="GET",
                 route="/api/v1/qr-codes/<int:code_id>", status="404") == 3
    assert value(text, "qrp_http_request_duration_seconds_count", route="unmatched") == 1
    label_values = {v for s in samples(text) for v in s.labels.values()}
    assert not any(("101" in v or "/42" in v) for v in label_values)


def test_rate_limit_hits_errors_and_scans_are_counted(make_app, db, create_user):
    app = make_app(RATELIMIT_ENABLED=True,
                   QRP_RATE_LIMITS={"anonymous": "100 per minute", "free": "3 per minute",
                                    "pro": "3 per minute", "business": "3 per minute"})
    app.add_url_rule("/api/v1/test-explode", "test_explode", lambda: 1 / 0)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {bearer_token(create_user())}"}
    code = client.post("/api/v1/qr-codes", headers=headers, json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/"}).json
    assert client.get("/api/v1/test-explode", headers=headers).status_code == 500
    # A route's own counter: three pass, the next two are refused.
    assert [client.get("/api/v1/me", headers=headers).status_code for _ in range(5)
            ].count(429) == 2
    for _ in range(4):
        client.get(f"/r/{code['short_code']}", headers={"User-Agent": IPHONE})
    client.head(f"/r/{code['short_code']}", headers={"User-Agent": IPHONE})
    app.extensions["qrp.stream"].flush()  # scans reach their receivers while the rows exist
    text = scrape(client)

    assert value(text, "qrp_rate_limit_hits_total", route="/api/v1/me",
                 scope="workspace") == 2
    assert value(text, "qrp_errors_total", route="/api/v1/test-explode",
                 exception="ZeroDivisionError") == 1
    assert value(text, "qrp_scans_total", outcome="redirected", classification="human") == 4
    assert value(text, "qrp_scans_total", classification="head") == 1


def test_job_attempts_are_timed_and_failures_counted(make_app, db):
    app = make_app()

    def settle(workspace_id):
        return "ok"

    def crash(workspace_id):
        raise RuntimeError("disk full")

    for func in (settle, crash):
        jobs.register(app, func)
    with app.app_context():
        jobs.enqueue(settle, 1)
        jobs.enqueue(crash, 1)
        database.session.commit()
    text = scrape(app.test_client())
    assert value(text, "qrp_job_duration_seconds_count", job=jobs.job_name(settle),
                 outcome="finished") == 1
    assert value(text, "qrp_job_duration_seconds_count", job=jobs.job_name(crash),
                 outcome="failed") == 1
    assert value(text, "qrp_job_failures_total", job=jobs.job_name(crash)) == 1
    assert value(text, "qrp_job_failures_total", job=jobs.job_name(settle)) == 0


def test_with_rq_queue_depth_and_job_stats_come_from_redis(make_app, db, redis, redis_url):
    """RQ runs jobs in short-lived work horses Prometheus never scrapes: every web worker
    reports the depth of the queues and the job totals kept in Redis."""
    def export_codes(workspace_id):
        return 12

    web, worker = (make_app(REDIS_URL=redis_url, QRP_JOBS_INLINE=False) for _ in range(2))
    for app in (web, worker):
        jobs.register(app, export_codes)
    with web.app_context():
        job_ids = [jobs.enqueue(export_codes, 1, queue="bulk").id for _ in range(2)]
        database.session.commit()
    text = scrape(web.test_client())
    assert value(text, "qrp_jobs_queue_depth", queue="bulk") == 2
    assert value(text, "qrp_jobs_queue_depth", queue="default") == 0

    jobs.execute(job_ids[0], app=worker)  # what a work horse does with a job it took
    text = scrape(web.test_client())
    assert value(text, "qrp_job_duration_seconds_count", job=jobs.job_name(export_codes),
                 outcome="finished") == 1
    assert value(text, "qrp_job_duration_seconds_bucket", job=jobs.job_name(export_codes),
                 outcome="finished", le="+Inf") == 1


def test_the_outbox_backlog_and_its_age_are_measured_at_scrape_time(make_app, db):
    app = make_app()
    with app.app_context():
        for n in range(3):
            events.publish("token.created", {"token_id": n, "name": "t"}, workspace_id=None)
        database.session.commit()
    client = app.test_client()
    text = scrape(client)
    assert value(text, "qrp_events_outbox_backlog") == 3
    assert value(text, "qrp_events_outbox_oldest_age_seconds") >= 0
    with app.app_context():
        drain()
    text = scrape(client)
    assert value(text, "qrp_events_outbox_backlog") == 0
    assert value(text, "qrp_events_outbox_oldest_age_seconds") == 0


@pytest.mark.slow
def test_consumer_lag_is_what_a_group_has_not_committed(make_kafka_app, event_domain, db):
    from qrplatform.events.kafka import run_consumer

    app = make_kafka_app(QRP_METRICS_KAFKA_LAG_INTERVAL=0)
    seen = []
    dispatch.register(app, "lag_probe", f"{event_domain}.created", seen.append)
    with app.app_context():
        # One relay pass each: Tansu counts a batch of records as one offset, Kafka does not.
        for n in range(3):
            events.publish(f"{event_domain}.created", {"n": n}, workspace_id=None)
            database.session.commit()
            assert drain() == 1
    client = app.test_client()
    topic = f"qrp.{event_domain}"
    assert value(scrape(client), "qrp_events_consumer_lag", group="lag_probe",
                 topic=topic) == 3

    run_consumer(app, "lag_probe", once=True)
    assert len(seen) == 3
    assert value(scrape(client), "qrp_events_consumer_lag", group="lag_probe",
                 topic=topic) == 0
