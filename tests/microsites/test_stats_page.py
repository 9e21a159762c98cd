"""The builder's Stats tab shows what GET /api/v1/microsites/{id}/analytics returns, for views
and clicks that came through the stream; people apart from bots; viewers see it, another
workspace does not."""

from __future__ import annotations

import re

from qrplatform.testing.pytest_plugin import csrf_token
from tests.microsites.makers import PAGE
from tests.microsites.test_analytics import BOT, IPHONE


def _visited_site(app, api, client) -> dict:
    """A published page with two people's views, a bot's, and one click on its link block."""
    stream = app.extensions["qrp.stream"]
    stream.discard()
    site = api.post("/api/v1/microsites", json={"name": "Café", "blocks": PAGE}).json
    api.post(f"/api/v1/microsites/{site['id']}/publish")
    link = site["blocks"][3]["id"]
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.2"):
        client.get("/m/cafe", headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": address})
    client.get("/m/cafe", headers={"User-Agent": BOT})
    client.get(f"/m/cafe/go/{link}.0", headers={"User-Agent": IPHONE},
               environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert stream.flush() == 5
    return site


def _stat(page: str, label: str) -> str:
    return re.search(rf'stat-label">{label}</p>\s*<p class="stat-value">([^<]+)<', page).group(1)


def test_the_stats_tab_shows_the_apis_figures(app, client, create_user, login, api):
    user = create_user()
    login(user)
    owner = api(user)
    empty = owner.post("/api/v1/microsites", json={"name": "Quiet", "blocks": PAGE}).json
    quiet = client.get(f"/microsites/{empty['id']}/stats").get_data(as_text=True)
    assert "No visits yet" in quiet and "Publish the page" in quiet

    site = _visited_site(app, owner, client)
    figures = owner.get(f"/api/v1/microsites/{site['id']}/analytics?days=7").json
    response = client.get(f"/microsites/{site['id']}/stats?days=7")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _stat(page, "Views") == str(figures["views"]) == "3"
    assert _stat(page, "Unique visitors") == str(figures["unique_visitors"]) == "2"
    assert _stat(page, "Clicks") == "1"
    assert _stat(page, "Click-through rate") == "33.3 %"
    assert "1 from bots" in page and 'aria-current="page">Last 7 days' in page
    assert 'aria-label="Views per day, oldest first: ' in page
    clicks = page.split('id="ms-clicks-title"', 1)[1]
    assert "Link" in clicks and "100 %" in clicks
    # An unknown period falls back to 30 days rather than failing; the API refuses it.
    assert 'aria-current="page">Last 30 days' in client.get(
        f"/microsites/{site['id']}/stats?days=5000").get_data(as_text=True)
    assert owner.get(f"/api/v1/microsites/{site['id']}/analytics?days=5000").status_code == 422
    assert f'href="/microsites/{site["id"]}/stats"' in client.get(
        f"/microsites/{site['id']}/").get_data(as_text=True)


def test_a_viewer_sees_stats_and_another_workspace_does_not(client, create_user, login, api,
                                                           db):
    from qrplatform.auth.models import Membership

    owner = api(create_user())
    site = owner.post("/api/v1/microsites", json={"name": "Café", "blocks": PAGE}).json
    viewer, stranger = create_user(), create_user()
    db.session.add(Membership(user_id=viewer.id, workspace_id=owner.workspace_id,
                              role="viewer"))
    db.session.commit()
    login(viewer)
    client.post("/workspaces/switch", data={"workspace_id": owner.workspace_id,
                                            "csrf_token": csrf_token(client, "/dashboard")})
    assert client.get(f"/microsites/{site['id']}/stats").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    login(stranger)
    assert client.get(f"/microsites/{site['id']}/stats").status_code == 404
