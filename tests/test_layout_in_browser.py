"""Layouts at a small laptop's width (1024 px), which the page crawl (1280 px and a phone)
passes by: the API reference's contents stay one column beside the operations, and a team's
wide table scrolls inside its box instead of widening the page."""

from itertools import pairwise

import pytest

from qrplatform.testing.browser import log_in, sideways_overflow

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAPTOP = {"width": 1024, "height": 768}


def test_the_api_references_contents_are_one_column_of_readable_titles(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport=LAPTOP)
    page = context.new_page()
    page.goto("/api/docs")
    links = page.locator(".api-toc a")
    boxes = [links.nth(i).bounding_box() for i in range(links.count())]
    assert len({round(box["x"]) for box in boxes}) == 1, "the contents are not one column"
    assert all(a["y"] < b["y"] for a, b in pairwise(boxes))
    titles = links.all_inner_texts()
    assert {"QR codes", "Assets", "Webhooks"} <= set(titles), titles
    assert not [t for t in titles if t.lower().endswith(" api")], titles
    assert sideways_overflow(page) <= 0
    context.close()


def test_a_wide_invitations_table_scrolls_in_its_box(browser, live_server, api, create_user):
    owner_user = create_user()
    owner = api(owner_user)
    long_name = "reservations.and.private.events.SpringCampaign2026FlagshipStores"
    invite = owner.post("/api/v1/teams/invitations",
                        json={"email": f"{long_name}@{long_name.lower()}.example.com",
                              "role": "editor"})
    assert invite.status_code == 201, invite.json
    context = browser.new_context(base_url=live_server, viewport=LAPTOP)
    page = context.new_page()
    log_in(page, owner_user.email)
    page.goto("/team")
    assert sideways_overflow(page) <= 0
    context.close()
