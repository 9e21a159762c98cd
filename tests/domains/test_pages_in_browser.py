"""The domains pages in Chromium: add a domain, copy its records, see in plain words what is
missing, check again once DNS changed, pick the domain for a QR code, remove the domain after
moving its codes; every page passes axe at laptop and phone widths. The custom domain's own
404 page is opened by its name (the browser resolves it to the test server)."""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from qrplatform.testing.a11y import axe_violations
from qrplatform.testing.browser import CHROMIUM, CHROMIUM_ARGS, log_in, on_errors, sideways_overflow
from qrplatform.testing.pytest_plugin import set_plan
from tests.domains.conftest import TARGET, fresh_name

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go (DOMAINS_SCREENSHOTS to keep them for a look)."""
    return os.environ.get("DOMAINS_SCREENSHOTS") or str(tmp_path)


def accessible(page, path, shots, name):
    """No serious or critical axe violation, nothing wider than a phone, a screenshot."""
    page.goto(path)
    page.wait_for_load_state("load")
    problems = axe_violations(page)
    width = page.viewport_size["width"]
    overflow = sideways_overflow(page)
    if overflow > 0:
        problems.append(f"{path} scrolls sideways by {overflow}px at {width}px")
    page.screenshot(path=f"{shots}/{name}-{width}.png", full_page=True)
    return problems


def test_add_verify_choose_and_remove_a_domain(browser, live_server, dns, create_user, shots):
    user = create_user(email="dora@example.com", name="Dora Domains")
    set_plan(user.personal_workspace_id, "pro")
    context = browser.new_context(base_url=live_server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page = context.new_page()
    errors = on_errors(page, console=False)
    log_in(page, user.email)

    page.goto("/domains/")
    page.get_by_role("textbox", name=re.compile("^Domain")).fill("not a domain")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator(".field-error")).to_contain_text("Type just the domain")

    name = fresh_name()
    page.get_by_role("textbox", name=re.compile("^Domain")).fill(name)
    page.get_by_role("button", name="Add domain").click()
    page.wait_for_url(re.compile(r".*/domains/\d+$"))
    expect(page.locator("#flash")).to_contain_text(f"{name} added")
    expect(page.locator("#domain-status")).to_contain_text("Not checked yet")

    # The records, each value with a copy button that really copies it.
    txt_value = page.locator(".domain-records code.record-code").first.inner_text()
    assert txt_value.startswith("qrplatform-verification=")
    page.get_by_role("button", name="Copy TXT record value").click()
    assert page.evaluate("navigator.clipboard.readText()") == txt_value
    page.get_by_role("button", name="Copy CNAME record value").click()
    assert page.evaluate("navigator.clipboard.readText()") == TARGET

    # Nothing in DNS yet: the check says what is missing, in plain words (htmx swap).
    page.get_by_role("button", name="Check now").click()
    status = page.locator("#domain-status")
    expect(status).to_contain_text(f"There is no TXT record at _qrplatform.{name} yet")
    expect(status).to_contain_text(f"{name} has no DNS record yet. Create a CNAME record "
                                   f"pointing at {TARGET}")
    for path_problem in accessible(page, page.url, shots, "pending"):
        errors.append(path_problem)
    # The same words on a phone: the TXT value they quote is one long word.
    phone = browser.new_context(base_url=live_server, viewport=PHONE, is_mobile=True)
    phone_page = phone.new_page()
    log_in(phone_page, user.email)
    errors.extend(accessible(phone_page, urlsplit(page.url).path, shots, "phone-pending"))

    dns.set(f"_qrplatform.{name}", "TXT", txt_value)
    dns.set(name, "CNAME", "shop.example.net")
    page.goto(page.url)
    page.get_by_role("button", name="Check now").click()
    expect(status).to_contain_text("The TXT record at")
    expect(status).to_contain_text("points at shop.example.net (CNAME), not at us")

    dns.set(name, "CNAME", TARGET)
    page.get_by_role("button", name="Check now").click()
    expect(status).to_contain_text("Verified")
    expect(status).to_contain_text(f"{name} serves your short links")
    domain_page = page.url

    # A dynamic code chooses the domain; its page shows the short link there.
    page.goto("/qr/new")
    page.get_by_label("Web address").fill("https://example.com/spring")
    page.get_by_label("Short link domain").select_option(name)
    page.get_by_role("button", name="Create QR code").click()
    page.wait_for_url(re.compile(r".*/qr/\d+$"))
    short_link = page.get_by_role("textbox", name="Short link", exact=True).input_value()
    assert re.fullmatch(rf"https://{re.escape(name)}/[A-Za-z0-9]{{8}}", short_link)

    # Every page fits a phone.
    domain_path = urlsplit(domain_page).path
    for path in ("/domains/", domain_path, f"{domain_path}/remove"):
        errors.extend(accessible(phone_page, path, shots, "phone" + path.replace("/", "-")))
    phone.close()

    # Removing: what uses it, the redirect map, moving the codes with progress, removing.
    page.goto(domain_page)
    page.get_by_role("button", name="Remove").click()
    expect(page.locator("#usage")).to_contain_text(f"1 QR code (1 active) has short links on "
                                                   f"{name}")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download the redirect map")).click()
    assert short_link in Path(download.value.path()).read_text()
    for path_problem in accessible(page, page.url, shots, "remove"):
        errors.append(path_problem)
    page.get_by_role("button", name="Move 1 code").click()
    expect(page.locator(".job-progress")).to_contain_text("Done")
    page.goto(page.url.split("?")[0])
    expect(page.locator("#usage")).to_contain_text("No QR code uses")
    page.get_by_role("button", name=f"Remove {name}").click()
    page.wait_for_url("**/domains/")
    expect(page.locator("#flash")).to_contain_text(f"{name} removed.")

    for path_problem in accessible(page, "/domains/", shots, "index"):
        errors.append(path_problem)
    context.close()
    assert not errors, errors


def test_the_custom_domains_own_404_page_by_its_name(browser, live_server, dns, pro, shots):
    """A second Chromium that resolves *.example.com to the test server."""
    from tests.domains.conftest import verified

    owner = pro()
    domain = verified(owner, dns)
    port = urlsplit(live_server).port
    custom = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP *.example.com 127.0.0.1"])
    try:
        problems = []
        for viewport in ({"width": 1280, "height": 800}, PHONE):
            page = custom.new_page(viewport=viewport)
            response = page.goto(f"http://{domain['name']}:{port}/no-such-code")
            assert response.status == 404
            expect(page.locator("h1")).to_have_text("Nothing here")
            expect(page.locator(".domain-404-owner")).to_contain_text("workspace")
            problems += accessible(page, page.url, shots, "domain-404")
            page.close()
        assert not problems, problems
    finally:
        custom.close()
