"""The editor's redirect rules in Chromium: add a rule, drag it to the top (SortableJS), ask
the "test a scan" box which rule wins and see the rule it shadows flagged, save, and find the
new order through the API."""

from __future__ import annotations

import pytest

from qrplatform.testing.browser import log_in, on_errors

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def tab(browser, live_server, create_user):
    user = create_user(email="rita@example.com", name="Rita Rules")
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 3200})
    page = context.new_page()
    # (htmx logs an aborted live preview as an error when the next one starts: not ours.)
    problems = on_errors(page, ignore=lambda message: message.text.startswith("htmx:"))
    log_in(page, user.email)
    page.user = user
    yield page
    context.close()
    assert not problems, problems


def test_add_drag_test_and_save_rules(tab, api):
    caller = api(tab.user)
    code = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/web",
        "rules": [{"when": {"os": ["ios"]}, "destination": "https://example.com/ios"},
                  {"when": {"country": ["DE"]}, "destination": "https://example.com/de"}]}).json
    tab.goto(f"/qr/{code['id']}/edit")
    cards = tab.locator("#rule-list > li")
    assert cards.count() == 2
    tab.get_by_role("button", name="Add a rule").click()
    assert cards.count() == 3
    cards.nth(2).get_by_label("Go to").fill("https://example.com/everyone")
    cards.nth(2).get_by_label("Android").check()

    # Drag the new rule by its handle above the first one.
    tab.locator("#qr-rules").scroll_into_view_if_needed()
    handle = cards.nth(2).locator(".rule-handle").bounding_box()
    first = cards.nth(0).bounding_box()
    tab.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    tab.mouse.down()
    for step in range(1, 16):
        tab.mouse.move(first["x"] + 20,
                       handle["y"] - (handle["y"] - first["y"] - 5) * step / 15)
    tab.mouse.up()
    tab.wait_for_timeout(300)
    assert cards.nth(0).get_by_label("Go to").input_value() == "https://example.com/everyone"
    assert [cards.nth(i).locator("[data-rule-number]").inner_text() for i in range(3)] == [
        "Rule 1", "Rule 2", "Rule 3"]

    # The arrows move it too: down once, then back up.
    cards.nth(0).get_by_role("button", name="Move this rule down").click()
    assert cards.nth(1).get_by_label("Go to").input_value() == "https://example.com/everyone"
    cards.nth(1).get_by_role("button", name="Move this rule up").click()

    box = tab.locator("#rules-test")
    box.get_by_label("System").select_option("android")
    box.get_by_label("Country").fill("DE")
    box.get_by_role("button", name="Which rule wins?").click()
    result = tab.locator("#rules-test-result")
    result.get_by_text("wins").wait_for()
    assert "Rule 1 wins" in result.inner_text()
    assert "https://example.com/everyone" in result.inner_text()
    box.get_by_label("System").select_option("ios")
    box.get_by_role("button", name="Which rule wins?").click()
    tab.wait_for_function(
        "() => document.querySelector('#rules-test-result').textContent.includes('Rule 2 wins')")

    # A catch-all in front shadows everything behind it.
    cards.nth(0).get_by_label("Android").uncheck()
    box.get_by_role("button", name="Which rule wins?").click()
    tab.wait_for_function("() => document.querySelector('#rules-test-result')"
                          ".textContent.includes('Rule 2: Never matches')")
    assert "Rule 3: Never matches" in result.inner_text()
    cards.nth(0).get_by_role("button", name="Delete").click()
    assert cards.count() == 2

    # Put Germany first with the arrows and save.
    cards.nth(1).get_by_role("button", name="Move this rule up").click()
    tab.get_by_role("button", name="Save").click()
    tab.wait_for_url(f"**/qr/{code['id']}")
    saved = caller.get(f"/api/v1/qr-codes/{code['id']}").json["rules"]
    assert [r["destination"] for r in saved] == ["https://example.com/de",
                                                 "https://example.com/ios"]
    assert [r["id"] for r in saved] == [code["rules"][1]["id"], code["rules"][0]["id"]]


def test_query_and_first_scans_conditions_in_the_browser(tab, api):
    caller = api(tab.user)
    code = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/web"}).json
    tab.goto(f"/qr/{code['id']}/edit")
    tab.locator("#qr-rules summary").click()
    cards = tab.locator("#rule-list > li")
    for destination in ("https://example.com/early", "https://example.com/flyer"):
        tab.get_by_role("button", name="Add a rule").click()
        cards.last.get_by_label("Go to").fill(destination)
    cards.nth(0).get_by_label("and the scan is among the first").fill("50")
    cards.nth(1).get_by_label("and the link has the query parameters").fill("src=flyer")

    box = tab.locator("#rules-test")
    box.get_by_label("Scan number").fill("51")
    box.get_by_label("Query string").fill("src=flyer")
    box.get_by_role("button", name="Which rule wins?").click()
    result = tab.locator("#rules-test-result")
    tab.wait_for_function("() => document.querySelector('#rules-test-result')"
                          ".textContent.includes('Rule 2 wins')")
    assert "scan number 51" in result.inner_text()
    box.get_by_label("Scan number").fill("3")
    box.get_by_role("button", name="Which rule wins?").click()
    tab.wait_for_function("() => document.querySelector('#rules-test-result')"
                          ".textContent.includes('Rule 1 wins')")

    # A second first-N rule under a larger one can never match.
    tab.get_by_role("button", name="Add a rule").click()
    cards.last.get_by_label("Go to").fill("https://example.com/earliest")
    cards.last.get_by_label("and the scan is among the first").fill("10")
    box.get_by_role("button", name="Which rule wins?").click()
    tab.wait_for_function("() => document.querySelector('#rules-test-result')"
                          ".textContent.includes('Rule 3: Never matches: rule 1')")
    cards.last.get_by_role("button", name="Delete").click()

    tab.get_by_role("button", name="Save").click()
    tab.wait_for_url(f"**/qr/{code['id']}")
    saved = caller.get(f"/api/v1/qr-codes/{code['id']}").json["rules"]
    assert [r["when"] for r in saved] == [{"scans": {"first": 50}},
                                          {"query": [{"name": "src", "value": "flyer"}]}]


def test_ab_split_rows_added_removed_and_saved_in_the_browser(tab, api):
    caller = api(tab.user)
    code = caller.post("/api/v1/qr-codes", json={
        "type": "url", "kind": "dynamic", "destination": "https://example.com/web"}).json
    tab.goto(f"/qr/{code['id']}/edit")
    tab.locator("#qr-rules summary").click()
    rows = tab.locator("#variant-list > li")
    split = tab.locator("#qr-variants")
    for destination, weight in (("https://example.com/a", "50"), ("https://example.com/b", "30"),
                                ("https://example.com/gone", "5"),
                                ("https://example.com/c", "20")):
        split.get_by_role("button", name="Add a variant").click()
        rows.last.get_by_label("Goes to").fill(destination)
        rows.last.get_by_label("Weight").fill(weight)
    rows.nth(2).get_by_role("button", name="Remove this variant").click()
    assert rows.count() == 3
    rows.nth(0).get_by_label("Name").fill("Spring")

    box = tab.locator("#rules-test")
    box.get_by_role("button", name="Which rule wins?").click()
    tab.wait_for_function("() => document.querySelector('#rules-test-result')"
                          ".textContent.includes('the A/B split decides')")
    tab.get_by_role("button", name="Save").click()
    tab.wait_for_url(f"**/qr/{code['id']}")
    saved = caller.get(f"/api/v1/qr-codes/{code['id']}").json["variants"]
    assert [(v.get("name"), v["destination"], v["weight"]) for v in saved] == [
        ("Spring", "https://example.com/a", 50), (None, "https://example.com/b", 30),
        (None, "https://example.com/c", 20)]
