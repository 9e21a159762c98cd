"""Views and clicks go to the stream on the visitor's request (no database write) and are
counted: people apart from bots, uniques, clicks per block, CTR; a redelivery counts once."""

from microsites.makers import PAGE
from qrplatform.events.dispatch import deliver_batch

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_views_and_clicks_are_counted(app, owner):
    stream = app.extensions["qrp.stream"]
    stream.discard()
    site = owner.post("/api/v1/microsites", json={"name": "Café", "blocks": PAGE}).json
    owner.post(f"/api/v1/microsites/{site['id']}/publish")
    link = site["blocks"][3]["id"]
    client = owner.client
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.2"):
        page = client.get("/m/cafe", headers={"User-Agent": IPHONE},
                          environ_base={"REMOTE_ADDR": address})
        assert page.status_code == 200
    client.get("/m/cafe", headers={"User-Agent": BOT})
    client.get(f"/m/cafe/go/{link}.0", headers={"User-Agent": IPHONE},
               environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert stream.flush() == 5
    figures = owner.get(f"/api/v1/microsites/{site['id']}/analytics").json
    assert figures["views"] == 3 and figures["unique_visitors"] == 2
    assert figures["clicks"] == 1 and figures["clicks_by_block"] == {link: 1}
    assert figures["click_through_rate"] == round(1 / 3, 4)
    assert figures["not_people"]["bot"] == 1
    assert figures["views_by_day"][-1]["views"] == 3
    assert owner.get(f"/api/v1/microsites/{site['id']}/analytics?days=0").status_code == 422


def test_a_redelivered_batch_counts_once(app, owner):
    from qrplatform.events import make_event
    from qrplatform.tenancy import unscoped

    site = owner.post("/api/v1/microsites", json={"name": "Café", "blocks": PAGE}).json
    event = make_event("microsites.viewed", {
        "microsite_id": site["id"], "slug": "cafe", "classification": "human",
        "visitor_hash": "a" * 64}, workspace_id=owner.workspace_id)
    with unscoped():
        deliver_batch([event])
        deliver_batch([event])
    assert owner.get(f"/api/v1/microsites/{site['id']}/analytics").json["views"] == 1


def test_days_are_the_workspaces(owner):
    """A view at 23:30 UTC is the next day in Auckland: counted on that day, which the
    figures name with their time zone."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from qrplatform.events import make_event
    from qrplatform.tenancy import unscoped

    assert owner.patch("/api/v1/workspace", json={"time_zone": "Pacific/Auckland"}
                       ).status_code == 200
    site = owner.post("/api/v1/microsites", json={"name": "Café", "blocks": PAGE}).json
    yesterday_late = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=23, minute=30, second=0, microsecond=0)
    event = make_event("microsites.viewed", {
        "microsite_id": site["id"], "slug": "cafe", "classification": "human",
        "visitor_hash": "d" * 64}, workspace_id=owner.workspace_id)
    with unscoped():
        deliver_batch([replace(event, occurred_at=yesterday_late.isoformat())])
    figures = owner.get(f"/api/v1/microsites/{site['id']}/analytics?days=7").json
    assert figures["time_zone"] == "Pacific/Auckland"
    local_day = yesterday_late.astimezone(ZoneInfo("Pacific/Auckland"))
    by_day = {d["day"]: d["views"] for d in figures["views_by_day"]}
    assert by_day[local_day.date().isoformat()] == 1
    assert local_day.date() != yesterday_late.date()
