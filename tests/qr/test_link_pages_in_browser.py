"""What a person sees after scanning a dynamic vCard code, in Chromium at phone width: a
contact page (tap to call, write, visit, find), axe-clean, no script needed, and "Save
contact" downloading the card."""

from pathlib import Path

import pytest

from qrplatform.testing.a11y import axe_violations
from qrplatform.testing.browser import on_errors, sideways_overflow

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}


def test_a_scanned_vcard_code_opens_a_contact_page_that_saves_the_card(
        api, browser, live_server, tmp_path):
    code = api().post("/api/v1/qr-codes", json={
        "kind": "dynamic", "type": "vcard", "content": {
            "first_name": "Grace", "last_name": "Hopper", "organization": "Navy Labs",
            "title": "Rear Admiral", "mobile": "+1 202 555 0143", "email": "grace@example.com",
            "website": "https://example.com/grace", "street": "1 Harbour Way",
            "city": "Arlington", "country": "USA"}}).json
    context = browser.new_context(base_url=live_server, viewport=PHONE, java_script_enabled=False,
                                  user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like "
                                             "Mac OS X) Mobile/15E148", accept_downloads=True)
    tab = context.new_page()
    problems = on_errors(tab)
    # The page the scan's redirect leads to (tests/qr/test_redirect.py follows that redirect;
    # here the test app's short links name another host).
    contact_page = "/r/" + code["short_url"].rsplit("/", 1)[1] + "/c"
    tab.goto(contact_page)
    assert tab.get_by_role("heading", name="Grace Hopper").is_visible()
    assert tab.get_by_role("link", name="+1 202 555 0143").get_attribute("href") == (
        "tel:+12025550143")
    assert tab.get_by_role("link", name="grace@example.com").is_visible()
    assert sideways_overflow(tab) <= 0
    tab.screenshot(path=str(tmp_path / "contact-390.png"), full_page=True)
    context.close()
    # axe needs its script: a second look with JavaScript on (the page itself has none).
    context = browser.new_context(base_url=live_server, viewport=PHONE, accept_downloads=True)
    tab = context.new_page()
    problems = on_errors(tab, problems)
    tab.goto(contact_page)
    assert axe_violations(tab) == []
    with tab.expect_download() as saved:
        tab.get_by_role("button", name="Save contact").click()
    assert saved.value.suggested_filename == "Grace_Hopper.vcf"
    assert "FN:Grace Hopper" in Path(saved.value.path()).read_text(encoding="utf-8")
    context.close()
    assert problems == []
