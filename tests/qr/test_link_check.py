"""The broken-destination check against real local HTTP servers: 4xx/5xx and silence flag a
code, HEAD-refusing servers are asked with GET, one request at a time per host, private
addresses never asked unless a test setting allows them, one digest per workspace."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from qrp_qr import linkcheck
from qrplatform.extensions import db as database
from qrplatform.notify import Notification
from qrplatform.tenancy import unscoped
from tests.qr.test_redirect import make_code


class Destinations(ThreadingHTTPServer):
    """/ok 200, /gone 404, /boom 500, /slow answers after 3 s, /nohead 405 to HEAD; counts
    requests and the most in flight at once."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str]] = []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self):
        server = self.server
        with server.lock:
            server.requests.append((self.command, self.path))
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        try:
            time.sleep(0.05)
            if self.path.startswith("/slow"):
                time.sleep(3)
            status = {"/gone": 404, "/boom": 500}.get(self.path, 200)
            if self.path == "/nohead" and self.command == "HEAD":
                status = 405
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        finally:
            with server.lock:
                server.in_flight -= 1

    do_GET = do_HEAD = _answer


@pytest.fixture
def destinations():
    server = Destinations()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fast_checks(app, monkeypatch):
    monkeypatch.setitem(app.config, "QR_LINK_CHECK_TIMEOUT", 1.0)
    monkeypatch.setitem(app.config, "QR_LINK_CHECK_DELAY", 0.05)


@pytest.fixture
def local_allowed(app, monkeypatch):
    monkeypatch.setitem(app.config, "QRP_NETGUARD_ALLOW_NETWORKS", ["127.0.0.0/8"])


def run_check(app):
    with app.app_context():
        return linkcheck.check_destinations()


def digests(app):
    with app.app_context(), unscoped():
        return list(database.session.scalars(select(Notification).where(
            Notification.template == "qr_broken_links").order_by(Notification.recipient)))


def test_broken_destinations_are_flagged_and_owners_told_once(app, api, create_user,
                                                              destinations, fast_checks,
                                                              local_allowed):
    owner = create_user(email="owen@example.com")
    caller = api(owner)
    codes = {path: make_code(caller, name=f"code {path}", destination=destinations.base + path)
             for path in ("/ok", "/gone", "/boom", "/slow", "/nohead")}
    archived = make_code(caller, destination=destinations.base + "/gone?archived")
    caller.delete(f"/api/v1/qr-codes/{archived['id']}")
    static = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "static", "destination": destinations.base + "/gone?static"})
    assert static.status_code == 201

    counts = run_check(app)
    assert counts["ok"] == 2 and counts["broken"] == 3 and counts["digests"] == 1
    # Only live dynamic codes are asked; GET only after a 405.
    assert sorted(destinations.requests) == sorted([
        ("HEAD", "/ok"), ("HEAD", "/gone"), ("HEAD", "/boom"), ("HEAD", "/slow"),
        ("HEAD", "/nohead"), ("GET", "/nohead")])
    # (One at a time per host: the parallel-hosts test; here /slow is still sleeping on the
    # server after the check gave up on it.)

    views = {path: caller.get(f"/api/v1/qr-codes/{code['id']}").json
             for path, code in codes.items()}
    assert {p for p, v in views.items() if v["destination_broken"]} == {"/gone", "/boom",
                                                                         "/slow"}
    assert "404" in views["/gone"]["destination_check"]["problem"]
    assert "500" in views["/boom"]["destination_check"]["problem"]
    assert "No answer" in views["/slow"]["destination_check"]["problem"]
    assert views["/ok"]["destination_check"]["status"] == "ok"
    assert views["/gone"]["destination_check"]["broken_since"]

    (mail,) = digests(app)
    assert mail.recipient == "owen@example.com"
    assert "3 QR code" in mail.subject
    for path in ("/gone", "/boom", "/slow"):
        assert f"code {path}" in mail.body_text
    assert "code /ok" not in mail.body_text

    # The list shows the badge on broken codes only.
    listing = caller.get("/api/v1/qr-codes?per_page=100").json["items"]
    assert sum(item["destination_broken"] for item in listing) == 3

    # Checked again: still broken, no second e-mail; fixed ones clear the flag.
    caller.patch(f"/api/v1/qr-codes/{codes['/gone']['id']}",
                 json={"destination": destinations.base + "/ok?fixed"})
    counts = run_check(app)
    assert counts["digests"] == 0 and len(digests(app)) == 1
    assert not caller.get(f"/api/v1/qr-codes/{codes['/gone']['id']}").json[
        "destination_broken"]


def test_the_list_page_shows_a_badge(app, client, create_user, login, api, destinations,
                                     fast_checks, local_allowed):
    user = create_user()
    login(user)
    make_code(api(user), name="Gone poster", destination=destinations.base + "/gone")
    make_code(api(user), name="Fine poster", destination=destinations.base + "/ok")
    run_check(app)
    page = client.get("/qr/").get_data(as_text=True)
    row = {name: page.split(name, 1)[1].split("</tr>", 1)[0]
           for name in ("Gone poster", "Fine poster")}
    assert "Broken link" in row["Gone poster"] and "Broken link" not in row["Fine poster"]


def test_broken_only_filter_on_the_list_page_and_the_api(app, client, create_user, login, api,
                                                        destinations, fast_checks,
                                                        local_allowed):
    user = create_user()
    login(user)
    caller = api(user)
    gone = make_code(caller, name="Gone poster", destination=destinations.base + "/gone")
    boom = make_code(caller, name="Boom flyer", destination=destinations.base + "/boom")
    make_code(caller, name="Fine poster", destination=destinations.base + "/ok")
    # Another workspace's broken code is never listed.
    stranger = api()
    make_code(stranger, name="Their gone code", destination=destinations.base + "/gone")
    assert client.get("/qr/?broken=1").get_data(as_text=True).count("Broken link") == 0
    # Two workspaces with broken codes: each gets its digest (each written in its own scope).
    assert run_check(app)["digests"] == 2 and len(digests(app)) == 2

    listed = caller.get("/api/v1/qr-codes?broken=true").json
    assert listed["total"] == 2
    assert {item["id"] for item in listed["items"]} == {gone["id"], boom["id"]}
    assert all(item["destination_broken"] for item in listed["items"])
    assert caller.get("/api/v1/qr-codes").json["total"] == 3
    assert caller.get("/api/v1/qr-codes?broken=true&q=flyer").json["total"] == 1
    refused = caller.get("/api/v1/qr-codes?broken=maybe")
    assert refused.status_code == 422 and "broken" in refused.json["error"]["fields"]
    assert stranger.get("/api/v1/qr-codes?broken=true").json["total"] == 1

    page = client.get("/qr/?broken=1").get_data(as_text=True)
    assert "Gone poster" in page and "Boom flyer" in page and "Fine poster" not in page
    assert "Their gone code" not in page
    assert '<option value="1" selected>Broken only</option>' in page
    # The list's fragment (htmx) filters alike; with nothing broken it says so.
    fragment = client.get("/qr/?broken=1&q=fine", headers={"HX-Request": "true"})
    assert "No QR codes match" in fragment.get_data(as_text=True)
    for code in (gone, boom):
        caller.patch(f"/api/v1/qr-codes/{code['id']}",
                     json={"destination": destinations.base + "/ok?fixed"})
    run_check(app)
    assert "No broken destinations" in client.get("/qr/?broken=1").get_data(as_text=True)


def test_private_and_link_local_addresses_are_never_requested(app, api, destinations,
                                                              fast_checks):
    """Without the test setting, the local server is a private address: never asked."""
    caller = api()
    local = make_code(caller, destination=destinations.base + "/gone")
    metadata = make_code(caller, destination="http://169.254.169.254/latest/meta-data/")
    inside = make_code(caller, destination="http://10.1.2.3/admin")
    counts = run_check(app)
    assert destinations.requests == []
    assert counts["skipped"] == 3 and counts["broken"] == 0 and counts["digests"] == 0
    for code in (local, metadata, inside):
        view = caller.get(f"/api/v1/qr-codes/{code['id']}").json
        assert not view["destination_broken"]
        assert view["destination_check"]["status"] == "skipped"
        assert "Not checked" in view["destination_check"]["problem"]


def test_hosts_are_asked_in_parallel_but_each_one_request_at_a_time(app, api, fast_checks,
                                                                      local_allowed):
    servers = [Destinations() for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        caller = api()
        for server in servers:
            for n in range(4):
                make_code(caller, destination=f"{server.base}/ok?{n}")
        started = time.monotonic()
        assert run_check(app)["ok"] == 8
        assert time.monotonic() - started < 8
        for server in servers:
            assert len(server.requests) == 4 and server.most_in_flight == 1
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_the_check_is_scheduled_as_a_job(app):
    from qrplatform.registry import registry

    schedule = registry(app).schedules["qr.check_destinations"]
    assert schedule.every_seconds == linkcheck.CHECK_EVERY_SECONDS
