"""Every metric a Grafana dashboard or a Prometheus alert rule uses is one the app exports:
the PromQL in deploy/ is parsed, its metric names extracted, and a real scrape of /metrics
(after some traffic, a rate-limit refusal, an error, a scan and a job) must declare each."""

import json
import re
from pathlib import Path

import pytest
import yaml

from qrplatform import PROJECT_ROOT, jobs
from qrplatform.extensions import db as database

from .conftest import bearer_token
from .helpers import scrape

DEPLOY = PROJECT_ROOT / "deploy"
# Made by Prometheus itself for every target, not by the app.
PROMETHEUS_BUILTINS = {"up"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                   "and", "or", "unless", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or numbers)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\boffset\s+\w+", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables such as $__rate_interval
    expr = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][-+]?\d+)?", "", expr)  # numbers
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end():].lstrip().startswith("("):
            continue  # a function or aggregation
        if match.group(0).lower() not in PROMQL_KEYWORDS:
            names.add(match.group(0))
    return names


def test_the_promql_parser_finds_metrics_and_nothing_else():
    assert metric_names('histogram_quantile(0.95, sum by (le, route) (rate('
                        'qrp_http_request_duration_seconds_bucket{status=~"5.."}'
                        '[$__rate_interval])))') == {"qrp_http_request_duration_seconds_bucket"}
    assert metric_names("sum(rate(a_total[30m] offset 1d)) / clamp_min(b, 1e-9) > 0.1 "
                        "and on (job) up == 0") == {"a_total", "b", "up"}


def dashboard_expressions() -> dict[str, str]:
    found = {}
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                found[f"{path.name}: {panel['title']}"] = target["expr"]
    return found


def rule_expressions() -> dict[str, str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return {f"alerts.yml: {rule['alert']}": rule["expr"]
            for group in rules["groups"] for rule in group["rules"]}


def test_dashboards_cover_what_the_issue_asks_for():
    titles = " | ".join(dashboard_expressions()).lower()
    for topic in ("requests per second", "latency", "exceptions", "rate-limit", "scans",
                  "outbox", "consumer lag", "jobs waiting", "job duration", "job failures"):
        assert topic in titles, topic
    assert len(rule_expressions()) >= 10


def exported_names(exposition: str) -> set[str]:
    """Names a query may use: every declared family (with a histogram's series) and sample."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _hash, _type, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names


@pytest.fixture
def busy_app(make_app, db, create_user):
    """An app that has served a bit of everything, as one in production would have."""
    app = make_app(RATELIMIT_ENABLED=True,
                   QRP_RATE_LIMITS={"anonymous": "100 per minute", "free": "2 per minute",
                                    "pro": "2 per minute", "business": "2 per minute"})
    app.add_url_rule("/api/v1/test-explode", "test_explode", lambda: 1 / 0)

    def reindex(workspace_id):
        return workspace_id

    jobs.register(app, reindex)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {bearer_token(create_user())}"}
    code = client.post("/api/v1/qr-codes", headers=headers, json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/"}).json
    client.get(f"/r/{code['short_code']}")
    client.get("/api/v1/test-explode", headers=headers)
    for _ in range(3):
        client.get("/api/v1/me", headers=headers)
    with app.app_context():
        jobs.enqueue(reindex, 1)
        database.session.commit()
    app.extensions["qrp.stream"].flush()  # the scan reaches its receivers while its rows exist
    return app


def test_every_metric_in_dashboards_and_alert_rules_is_exported(busy_app):
    exported = exported_names(scrape(busy_app.test_client()))
    expressions = {**dashboard_expressions(), **rule_expressions()}
    assert len(expressions) > 20
    missing = {where: sorted(metric_names(expr) - exported - PROMETHEUS_BUILTINS)
               for where, expr in expressions.items()}
    missing = {where: names for where, names in missing.items() if names}
    assert missing == {}, f"used in deploy/ but not exported by the app: {missing}"
    used = set().union(*(metric_names(expr) for expr in expressions.values()))
    # And the other way round: what the issue asks to watch is on a dashboard or in a rule.
    for name in ("qrp_rate_limit_hits_total", "qrp_errors_total", "qrp_scans_total",
                 "qrp_events_outbox_backlog", "qrp_events_outbox_oldest_age_seconds",
                 "qrp_events_consumer_lag", "qrp_jobs_queue_depth", "qrp_job_failures_total",
                 "qrp_job_duration_seconds_bucket", "qrp_http_request_duration_seconds_bucket"):
        assert name in used, name


def test_a_misspelt_metric_would_be_caught(busy_app):
    exported = exported_names(scrape(busy_app.test_client()))
    assert "qrp_scan_total" not in exported
    assert metric_names("sum(rate(qrp_scan_total[5m]))") - exported == {"qrp_scan_total"}


def test_grafana_provisioning_points_at_the_dashboards_folder():
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "qrplatform.yml").read_text())
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    [folder] = [host for host, container in mounts.items()
                if container == provider["providers"][0]["options"]["path"]]
    assert sorted(p.name for p in (DEPLOY / Path(folder)).glob("*.json")) == [
        "qrplatform-events-jobs.json", "qrplatform-scans.json", "qrplatform-traffic.json"]
