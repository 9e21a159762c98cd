"""The QR list, a code's page and the bulk page in Chromium at 1280 and 390 px: search as you
type, filters, choosing many codes then tagging, archiving and downloading them; copying a
short link and the download menu; the bulk page's sample file, moving progress and the link to
the new codes."""

from __future__ import annotations

import io
import re
import zipfile

import pymupdf
import pytest
from PIL import Image

from qrplatform.testing.browser import log_in, on_errors, sideways_overflow
from tests.qr.conftest import decode_image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def owner(api, create_user, live_server):
    user = create_user(email="lin@example.com", name="Lin List")
    return user, api(user)


def make(caller, name, **body):
    body = {"kind": "dynamic", "type": "url",
            "destination": f"https://example.com/{name.lower().replace(' ', '-')}", **body}
    response = caller.post("/api/v1/qr-codes", json={"name": name, **body})
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def open_tab(browser, live_server):
    """open_tab(width) → a signed-in tab at that width; the test fails on any JavaScript or
    CSP error."""
    contexts, problems = [], []

    def opener(width, email="lin@example.com"):
        context = browser.new_context(base_url=live_server, viewport=WIDTHS[width],
                                      is_mobile=width == "phone", accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
        contexts.append(context)
        tab = context.new_page()
        on_errors(tab, problems)
        log_in(tab, email)
        return tab

    yield opener
    for context in contexts:
        context.close()
    assert not problems, problems


def rows(tab):
    tab.wait_for_function("() => !document.querySelector('.htmx-request')")
    return tab.locator("#qr-list tbody tr")


@pytest.mark.parametrize("width", WIDTHS)
def test_search_filter_choose_many_then_tag_archive_and_download(owner, open_tab, width):
    _user, caller = owner
    for i in range(3):
        make(caller, f"Menu table {i}")
    make(caller, "Concert poster")
    make(caller, "Guest Wi-Fi", kind="static", type="wifi",
         content={"ssid": "Cafe", "password": "espresso42", "security": "WPA"})
    tab = open_tab(width)
    tab.goto("/qr/")
    assert rows(tab).count() == 5
    # Every thumbnail has a name; nothing scrolls sideways on a phone.
    assert tab.locator("#qr-list img[alt='']").count() == 0
    assert sideways_overflow(tab) <= 0

    tab.get_by_label("Search codes").press_sequentially("menu", delay=40)
    # The search is in the address bar; "me" may be searched first on a slow machine (the
    # same three rows), so wait for the whole word.
    tab.wait_for_url(re.compile(r".*[?&]q=menu(&|$)"))
    tab.wait_for_function("() => document.querySelectorAll('#qr-list tbody tr').length === 3")
    tab.get_by_label("Search codes").fill("")
    tab.wait_for_function("() => document.querySelectorAll('#qr-list tbody tr').length === 5")
    tab.get_by_label("Type", exact=True).select_option("wifi")
    tab.wait_for_function("() => document.querySelectorAll('#qr-list tbody tr').length === 1")
    tab.get_by_label("Type", exact=True).select_option("")
    tab.wait_for_function("() => document.querySelectorAll('#qr-list tbody tr').length === 5")

    tab.get_by_label("Search codes").fill("menu")
    tab.wait_for_function("() => document.querySelectorAll('#qr-list tbody tr').length === 3")
    tab.get_by_label("Select every code on this page").check()
    assert tab.locator("[data-selected-count]").inner_text() == "3"
    tab.get_by_label("Tag to add or remove").fill("Spring menu")
    tab.get_by_role("button", name="Add tag").click()
    tab.wait_for_load_state("load")
    assert "Tagged 3 codes." in tab.locator("body").inner_text()
    assert caller.get("/api/v1/qr-codes?tag=spring menu").json["total"] == 3

    tab.get_by_label("Select “Menu table 0”").check()
    tab.get_by_label("Select “Menu table 1”").check()
    tab.once("dialog", lambda dialog: dialog.accept())
    tab.get_by_role("button", name="Archive").click()
    tab.wait_for_load_state("load")
    assert "Archived 2 codes" in tab.locator("body").inner_text()
    assert caller.get("/api/v1/qr-codes").json["total"] == 3

    tab.goto("/qr/")
    tab.get_by_label("Select “Concert poster”").check()
    tab.get_by_label("Select “Menu table 2”").check()
    tab.get_by_role("button", name="Download ZIP").click()
    tab.wait_for_url(re.compile(r".*/qr/bulk/jobs/.*"))
    link = tab.get_by_role("button", name="Download the ZIP")
    link.wait_for()
    with tab.expect_download() as waiting:
        link.click()
    archive = zipfile.ZipFile(waiting.value.path())
    pngs = [n for n in archive.namelist() if n.startswith("png/")]
    assert len(pngs) == 2
    texts = {decode_image(Image.open(io.BytesIO(archive.read(n))).convert("RGB"))[0]
             for n in pngs}
    assert all("/r/" in text for text in texts)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_codes_page_copies_its_short_link_and_downloads_from_its_menu(owner, open_tab,
                                                                          width):
    _user, caller = owner
    code = make(caller, "Window sticker")
    tab = open_tab(width)
    tab.goto(f"/qr/{code['id']}")
    assert tab.locator("[data-main-action]").inner_text().strip() == "Edit"
    assert tab.get_by_role("heading", name="Scans by people").is_visible()
    tab.get_by_role("button", name="Copy short link").click()
    tab.wait_for_function("() => document.getElementById('copy-status').textContent !== ''")
    assert tab.evaluate("navigator.clipboard.readText()") == code["short_url"]

    tab.get_by_text("Download", exact=True).first.click()
    item = tab.get_by_role("link", name="PNG · 1024 px")
    assert item.is_visible()
    with tab.expect_download() as waiting:
        item.click()
    download = waiting.value
    assert download.suggested_filename.endswith("-1024.png")
    image = Image.open(download.path())
    assert image.width == 1024 and decode_image(image.convert("RGB")) == [code["short_url"]]
    tab.keyboard.press("Escape")
    tab.get_by_text("Download", exact=True).first.click()
    tab.locator(".qr-download-custom").get_by_label("Format", exact=True).select_option("svg")
    with tab.expect_download() as waiting:
        tab.locator(".qr-download-custom").get_by_role("button", name="Download").click()
    assert waiting.value.suggested_filename.endswith(".svg")
    assert sideways_overflow(tab) <= 0


@pytest.mark.parametrize("width", WIDTHS)
def test_the_print_download_keeps_its_size_when_the_unit_changes(owner, open_tab, width):
    """Inches instead of millimetres: the same width converted, the usual bleed of the new
    unit (an eighth of an inch, not 3 inches, which the export refuses), the limits in it."""
    _user, caller = owner
    code = make(caller, "Shop window")
    tab = open_tab(width)
    tab.goto(f"/qr/{code['id']}")
    tab.get_by_text("Download", exact=True).first.click()
    form = tab.locator(".qr-download-print")
    form.get_by_label("Width").fill("50.8")
    form.get_by_label("Unit").select_option("in")
    assert form.get_by_label("Width").input_value() == "2"
    assert form.get_by_label("Bleed").input_value() == "0.125"
    assert form.get_by_label("Width").get_attribute("min") == "0.4"
    assert form.get_by_label("Bleed").get_attribute("max") == "0.39"
    assert form.locator("[data-bleed-unit]").inner_text() == "in"
    box = form.bounding_box()
    for field in form.locator("input, select, button").all():   # nothing spills out
        inside = field.bounding_box()
        assert inside["x"] + inside["width"] <= box["x"] + box["width"] + 1, field
    with tab.expect_download() as waiting:
        form.get_by_role("button", name="Download for print").click()
    document = pymupdf.open(waiting.value.path())
    assert document[0].trimbox.width == pytest.approx(2 * 72, abs=0.01)   # 2 in, in points
    bleed = (document[0].trimbox.x0 - document[0].bleedbox.x0) / 72
    assert bleed == pytest.approx(0.125, abs=0.001)
    form.get_by_label("Unit").select_option("mm")
    assert form.get_by_label("Width").input_value() == "50.8"
    assert form.get_by_label("Bleed").input_value() in {"3", "3.0"}


def test_the_pager_swaps_the_list_in_place_and_keeps_the_query(owner, open_tab, monkeypatch):
    """The list's pager is the shared ``pages_nav`` with an htmx target: the next page replaces
    the list without loading the page, the address follows, and the filters stay."""
    from qrp_qr import services

    monkeypatch.setattr(services, "PER_PAGE", 2)
    _user, caller = owner
    for i in range(5):
        make(caller, f"Menu table {i}")
    make(caller, "Concert poster")
    tab = open_tab("desktop")
    tab.goto("/qr/?q=menu&sort=name")
    tab.evaluate("window.notReloaded = true")
    pager = tab.get_by_role("navigation", name="Pages")
    assert pager.get_by_text("Page 1 of 3").is_visible()
    pager.get_by_role("link", name="Next →").click()
    tab.wait_for_url("**/qr/?*page=2*")
    assert pager.get_by_text("Page 2 of 3").is_visible()
    assert tab.evaluate("window.notReloaded") is True  # swapped by htmx, not a page load
    assert rows(tab).locator(".qr-col-name strong").all_inner_texts() == [
        "Menu table 2", "Menu table 3"]
    assert "q=menu" in tab.url and "sort=name" in tab.url
    pager.get_by_role("link", name="← Previous").click()
    tab.wait_for_url(lambda url: "page=1" in url or "page=" not in url)
    assert pager.get_by_text("Page 1 of 3").is_visible()
