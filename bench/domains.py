"""What a custom domain costs a scan, in-process: the whole WSGI stack as wsgi.py builds it
(ProxyFix, the custom-domain layer, the short-link fast path, metrics), called directly with
the environ of a scan, so no network, wrk or other process blurs a difference of microseconds.

    .venv/bin/python bench/domains.py
    BENCH_REQUESTS=20000 BENCH_ROUNDS=9 .venv/bin/python bench/domains.py

Two cases, interleaved round by round, the same 200 codes: ``platform`` asks
``/r/<code>`` with the platform's Host; ``domain`` asks ``/<code>`` with the Host of the
workspace's verified custom domain (looked up in the host map, the path rewritten, the code
checked to belong to the domain's workspace). Every answer must be the code's 302. The
figure is the median of the rounds' microseconds per request; the target (issue 16): the
custom domain within 10 % of the platform's host. bench/redirect.py measures the same two cases
end to end under wrk.

Setup: SQLite in a temporary folder, the in-process caches (no Redis), scans handed to the
stream buffer (emptied between rounds), every installed plugin.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CODES = 200
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
PLATFORM_HOST = "qr.bench-platform.com"
CUSTOM_HOST = "go.bench-qrp.com"
UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
      "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def build(workdir: Path):
    for name in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        os.environ.pop(name, None)
    os.environ.update(DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
                      PUBLIC_BASE_URL=f"https://{PLATFORM_HOST}", SECRET_KEY="bench",
                      QRP_LOG_LEVEL="WARNING", QRP_STORAGE_DIR=str(workdir / "storage"))
    from flask_migrate import upgrade

    from qrplatform import create_app

    app = create_app({"QRP_STREAM_BACKGROUND": False, "QRP_EVENTS_RELAY_THREAD": False,
                      "QRP_JOBS_INLINE": True, "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade(revision="heads")
    return app


def seed(app) -> dict[str, str]:
    from qrp_domains.models import Domain
    from qrplatform.auth import services as auth
    from qrplatform.extensions import db
    from qrplatform.tenancy import tenant_scope

    with app.app_context():
        user, workspace = auth.signup("bench@example.com", "long enough pw", "Bench")
        workspace.plan = "business"
        _token, plain = auth.create_token(user, workspace.id, "bench")
        with tenant_scope(workspace.id):
            now = datetime.now(UTC)
            # Verified without DNS: written directly, as a finished verification leaves it.
            db.session.add(Domain(name=CUSTOM_HOST, status="verified", token="bench",
                                  owned_at=now, verified_at=now, findings=[]))
            db.session.commit()
        db.session.commit()
    client = app.test_client()
    targets = {}
    for i in range(CODES):
        response = client.post("/api/v1/qr-codes", headers={"Authorization": f"Bearer {plain}"},
                               json={"kind": "dynamic", "type": "url", "domain": CUSTOM_HOST,
                                     "content": {"url": f"https://example.com/landing/{i}"}})
        assert response.status_code == 201, response.json
        targets[response.json["short_code"]] = response.json["destination"]
    return targets


def environ(path: str, host: str) -> dict:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": host,
            "SERVER_PORT": "443", "HTTP_HOST": host, "wsgi.url_scheme": "https",
            "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "REMOTE_ADDR": "203.0.113.9",
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": UA,
            "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}


def measure(app, requests: list[tuple[dict, str]]) -> float:
    """Microseconds per request; each answer checked to be the code's redirect."""
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, headers

    wsgi = app.wsgi_app
    started = time.perf_counter()
    for template, target in requests:
        wsgi(dict(template), start_response)
        if not seen["status"].startswith("302") or ("Location", target) not in seen["headers"]:
            raise AssertionError(f"{template['PATH_INFO']} answered {seen['status']}")
    elapsed = time.perf_counter() - started
    app.extensions["qrp.stream"].discard()
    return elapsed / len(requests) * 1e6


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="qr-bench-domains-"))
    app = build(workdir)
    targets = seed(app)
    codes = list(targets)
    cases = {
        "platform": [(environ(f"/r/{codes[i % CODES]}", PLATFORM_HOST), targets[codes[i % CODES]])
                     for i in range(REQUESTS)],
        "domain": [(environ(f"/{codes[i % CODES]}", CUSTOM_HOST), targets[codes[i % CODES]])
                   for i in range(REQUESTS)],
    }
    for requests in cases.values():
        measure(app, requests[:2000])  # warm: caches filled
    figures: dict[str, list[float]] = {name: [] for name in cases}
    print(f"{REQUESTS} requests a round, {ROUNDS} interleaved rounds, {CODES} codes; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for round_ in range(1, ROUNDS + 1):
        for name, requests in cases.items():
            figures[name].append(measure(app, requests))
        print(f"round {round_}: " + "  ".join(f"{name} {figures[name][-1]:.1f} µs"
                                               for name in cases), flush=True)
    platform, domain = (statistics.median(figures[n]) for n in ("platform", "domain"))
    ratio = domain / platform
    print(f"\nmedian µs per scan: platform host {platform:.1f}, custom domain {domain:.1f}; "
          f"custom domain = {ratio:.3f}x [{'OK' if ratio <= 1.10 else 'BELOW TARGET'}: "
          "<= 1.10x]")


if __name__ == "__main__":
    main()
