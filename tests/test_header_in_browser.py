"""The header at a laptop's width: every section, the quick-create button, the workspace menu
and the account menu on one row, none covering another (what a click on a section needs)."""

import pytest

from qrplatform.testing.browser import log_in

pytestmark = [pytest.mark.browser]


@pytest.mark.parametrize("width", [1080, 1280])
def test_the_header_fits_one_row_with_every_plugin(page, create_user, width):
    create_user("wren@example.com", name="Wren Longername-Hathaway")
    page.set_viewport_size({"width": width, "height": 800})
    log_in(page, "wren@example.com")

    sections = page.locator(".app-nav a")
    assert sections.count() >= 5, "every plugin's section is in the header"
    actions = page.locator(".app-header-actions").bounding_box()
    header = page.locator(".app-header-inner").bounding_box()
    for index in range(sections.count()):
        box = sections.nth(index).bounding_box()
        assert box["x"] + box["width"] <= actions["x"], sections.nth(index).inner_text()
        bottom = header["y"] + header["height"]
        assert header["y"] <= box["y"] and box["y"] + box["height"] <= bottom
    assert actions["x"] + actions["width"] <= header["x"] + header["width"]
    page.get_by_role("link", name="Team", exact=True).first.click()
    page.wait_for_url("**/team")
