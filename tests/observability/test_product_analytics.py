"""Product analytics: domain events on the bus become Mixpanel events, posted by the real
mixpanel client (BufferedConsumer) to a local endpoint standing in for api.mixpanel.com."""

import pytest

from qrplatform import events
from qrplatform.events.outbox import drain
from qrplatform.extensions import db as database

from .conftest import mixpanel_events

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
CRAWLER = "Googlebot/2.1 (+http://www.google.com/bot.html)"


@pytest.fixture
def analytics_app(make_app, mixpanel_config, db):
    return make_app(**mixpanel_config)


def relay(app) -> None:
    """What `flask events relay` does without Kafka: hand outbox events to every group."""
    with app.app_context():
        drain()


def send(app) -> int:
    return app.extensions["qrp.product_analytics"].flush()


def sign_up(app, email: str) -> tuple[dict, str]:
    client = app.test_client()
    response = client.post("/api/v1/auth/signup", json={
        "email": email, "password": "correct horse battery", "name": "Ada"})
    assert response.status_code == 201, response.json
    token = client.post("/api/v1/auth/tokens", json={
        "email": email, "password": "correct horse battery"})
    assert token.status_code == 201, token.json
    return response.json, token.json["token"]


def user_and_workspace(signup: dict) -> tuple[int, int]:
    user = signup.get("user", signup)
    workspace = signup.get("workspace") or user["workspaces"][0]
    return user["id"], workspace["id"]


def create_code(app, token: str) -> dict:
    response = app.test_client().post(
        "/api/v1/qr-codes", headers={"Authorization": f"Bearer {token}"},
        json={"type": "url", "kind": "dynamic", "destination": "https://example.com/menu"})
    assert response.status_code == 201, response.json
    return response.json


def scan(app, code: dict, user_agent: str = IPHONE):
    response = app.test_client().get(f"/r/{code['short_code']}",
                                     headers={"User-Agent": user_agent},
                                     environ_base={"REMOTE_ADDR": "198.51.100.23"})
    assert response.status_code in (301, 302, 307, 308)


def by_name(sent: list[dict], name: str) -> list[dict]:
    return [event for event in sent if event["event"] == name]


def test_signup_and_a_new_code_reach_mixpanel_once_the_bus_delivers_them(
        analytics_app, capture_server):
    signup, token = sign_up(analytics_app, "ada@example.net")
    user_id, workspace_id = user_and_workspace(signup)
    create_code(analytics_app, token)

    assert send(analytics_app) == 0  # nothing before the relay hands the events on
    relay(analytics_app)
    assert send(analytics_app) == 2

    sent = mixpanel_events(capture_server)
    [signed_up] = by_name(sent, "Signup")
    [created] = by_name(sent, "QR Code Created")
    for event in (signed_up, created):
        properties = event["properties"]
        assert properties["token"] == "mixpanel-project-token"
        assert properties["distinct_id"] == str(user_id)
        assert properties["workspace_id"] == workspace_id
        assert properties["plan"] == "free"
    assert created["properties"]["kind"] == "dynamic"
    assert created["properties"]["type"] == "url"
    raw = "".join(r.text() for r in capture_server.requests_to("/track"))
    assert "ada@example.net" not in raw and "ada%40example.net" not in raw


def test_a_redelivered_event_keeps_its_insert_id_so_mixpanel_drops_the_copy(
        analytics_app, capture_server):
    sign_up(analytics_app, "grace@example.net")
    relay(analytics_app)
    send(analytics_app)
    [first] = by_name(mixpanel_events(capture_server), "Signup")
    with analytics_app.app_context():
        from sqlalchemy import select

        from qrplatform.events.models import OutboxEvent

        [row] = database.session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "user.signed_up")).all()
        assert first["properties"]["$insert_id"] == row.id


def test_plan_changes_and_rate_limit_hits_are_sent_as_named_events(
        make_app, mixpanel_config, capture_server, db):
    # A plugin maps its own events (here billing's); the core maps its rate limits.
    app = make_app(**mixpanel_config, RATELIMIT_ENABLED=True,
                   QRP_RATE_LIMITS={"anonymous": "100 per minute", "free": "2 per minute",
                                    "pro": "2 per minute", "business": "2 per minute"})
    signup, token = sign_up(app, "linus@example.net")
    user_id, workspace_id = user_and_workspace(signup)
    with app.app_context():
        events.publish("billing.plan_changed", {"plan": "pro", "previous_plan": "free"},
                       workspace_id=workspace_id, actor={"type": "user", "id": user_id})
        database.session.commit()
    relay(app)
    client = app.test_client()
    statuses = [client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                           ).status_code for _ in range(4)]
    assert statuses.count(429) == 2
    app.extensions["qrp.stream"].flush()  # the gateway's rate-limit events, as the relay would
    send(app)

    sent = mixpanel_events(capture_server)
    [plan_changed] = by_name(sent, "Plan Changed")
    assert plan_changed["properties"]["plan"] == "pro"
    assert plan_changed["properties"]["previous_plan"] == "free"
    assert plan_changed["properties"]["distinct_id"] == str(user_id)
    [limited] = by_name(sent, "Rate Limit Hit")
    assert limited["properties"]["hit_count"] == 2
    assert limited["properties"]["workspace_id"] == workspace_id
    assert limited["properties"]["distinct_id"] == f"workspace:{workspace_id}"


def test_scans_are_sent_as_one_aggregated_event_per_workspace(analytics_app, capture_server):
    _signup, token = sign_up(analytics_app, "katherine@example.net")
    first, second = create_code(analytics_app, token), create_code(analytics_app, token)
    for _ in range(5):
        scan(analytics_app, first)
    scan(analytics_app, second)
    scan(analytics_app, second, user_agent=CRAWLER)
    analytics_app.extensions["qrp.stream"].flush()
    send(analytics_app)

    [scanned] = by_name(mixpanel_events(capture_server), "QR Code Scanned")
    properties = scanned["properties"]
    assert properties["scan_count"] == 7
    assert properties["human_scans"] == 6
    assert properties["bot_scans"] == 1
    assert properties["codes"] == 2
    assert properties["plan"] == "free"
    assert "198.51.100.23" not in str(scanned)


def test_a_scan_window_adds_batches_up_until_it_closes(make_app, mixpanel_config,
                                                        capture_server, db):
    app = make_app(**{**mixpanel_config, "QRP_MIXPANEL_SCAN_WINDOW": 3600})
    _signup, token = sign_up(app, "barbara@example.net")
    code = create_code(app, token)
    for _batch in range(2):
        for _ in range(3):
            scan(app, code)
        app.extensions["qrp.stream"].flush()
    send(app)
    assert by_name(mixpanel_events(capture_server), "QR Code Scanned") == []
    app.extensions["qrp.product_analytics"].flush(close_windows=True)  # what exit does
    [scanned] = by_name(mixpanel_events(capture_server), "QR Code Scanned")
    assert scanned["properties"]["scan_count"] == 6


def test_an_opted_out_workspace_sends_nothing(analytics_app, capture_server):
    signup, token = sign_up(analytics_app, "edsger@example.net")
    _user_id, workspace_id = user_and_workspace(signup)
    result = analytics_app.test_cli_runner().invoke(
        args=["product-analytics", "opt-out", str(workspace_id)])
    assert result.exit_code == 0, result.output
    code = create_code(analytics_app, token)
    scan(analytics_app, code)
    relay(analytics_app)
    analytics_app.extensions["qrp.stream"].flush()
    analytics_app.extensions["qrp.product_analytics"].flush(close_windows=True)
    assert mixpanel_events(capture_server) == []

    analytics_app.test_cli_runner().invoke(args=["product-analytics", "opt-in",
                                                 str(workspace_id)])
    create_code(analytics_app, token)
    relay(analytics_app)
    send(analytics_app)
    assert [e["event"] for e in mixpanel_events(capture_server)] == ["QR Code Created"]


def test_a_mixpanel_outage_keeps_the_events_for_the_next_flush(analytics_app, capture_server):
    capture_server.respond("/track", status=200, body={"status": 0, "error": "overloaded"},
                           times=1)
    sign_up(analytics_app, "margaret@example.net")
    relay(analytics_app)  # the receiver itself never waits on, or fails because of, Mixpanel
    assert send(analytics_app) == 0
    assert len(capture_server.requests_to("/track")) == 1
    send(analytics_app)
    attempts = capture_server.requests_to("/track")
    assert len(attempts) == 2
    assert attempts[0].form()["data"] == attempts[1].form()["data"]  # the same batch again


def test_without_a_token_no_receiver_group_exists(make_app, capture_server, db):
    from qrplatform.events.dispatch import groups

    app = make_app()
    with app.app_context():
        assert "product_analytics" not in groups()
    sign_up(app, "alan@example.net")
    relay(app)
    assert capture_server.requests == []
