"""The production server's request log: gunicorn (our conf) writes no access line of its own,
the app writes one JSON line per request, and scan redirects answered on the fast path are
logged as QR_REDIRECT_LOG_SAMPLE says, every one of them counted in the metrics."""

import http.client
import json

import pytest
from prometheus_client import CollectorRegistry, multiprocess

from qrplatform.testing.servers import gunicorn

pytestmark = pytest.mark.slow

REQUESTS = 40


def get(port: int, path: str, request_id: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"User-Agent": "Mozilla/5.0 (iPhone)",
                                                 "X-Request-ID": request_id})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def scans_counted(folder) -> float:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return sum(sample.value for metric in registry.collect()
               if metric.name == "qrp_scans" for sample in metric.samples
               if sample.name == "qrp_scans_total")


def serve_and_log(database_url, tmp_path, scan_path: str, sample: str) -> tuple[list, float]:
    """Pages and scans, REQUESTS of each, through gunicorn; its stdout as JSON lines (every
    line must be one) and the scans /metrics would count."""
    folder = tmp_path / f"prometheus-{sample}"
    folder.mkdir()
    log = tmp_path / f"stdout-{sample}.log"
    env = {"QRP_LOG_LEVEL": "INFO", "QR_REDIRECT_LOG_SAMPLE": sample,
           "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    with log.open("w") as stdout, gunicorn(database_url, env=env, stdout=stdout) as (port, _):
        for number in range(REQUESTS):
            assert get(port, "/healthz", f"page-{number:04d}") == 200
            assert get(port, scan_path, f"scan-{number:04d}") == 302
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return lines, scans_counted(folder)


@pytest.mark.parametrize("sample, scan_lines", [("0", 0), ("1", REQUESTS)])
def test_one_line_per_request_and_scans_as_sampled(api, db, database_url, tmp_path, sample,
                                                   scan_lines, monkeypatch):
    monkeypatch.delenv("GUNICORN_ACCESS_LOG", raising=False)
    code = api().post("/api/v1/qr-codes", json={
        "kind": "dynamic", "type": "url", "content": {"url": "https://example.com/menu"}}).json
    scan_path = "/r/" + code["short_url"].rsplit("/", 1)[1]
    lines, counted = serve_and_log(database_url, tmp_path, scan_path, sample)

    assert not [line for line in lines if line.get("logger") == "gunicorn.access"]
    requests = [line for line in lines if line.get("logger") == "qrplatform.access"]
    pages = [line for line in requests if line["request_id"].startswith("page-")]
    scans = [line for line in requests if line["request_id"].startswith("scan-")]
    # One line per page request, none twice.
    assert sorted(line["request_id"] for line in pages) == [
        f"page-{number:04d}" for number in range(REQUESTS)]
    assert {(line["route"], line["status"]) for line in pages} == {("/healthz", 200)}
    assert len(scans) == scan_lines
    for line in scans:
        assert (line["route"], line["status"], line["sample_rate"]) == (
            "/r/<short_code>", 302, float(sample))
    assert counted == REQUESTS  # every scan counted, logged or not
