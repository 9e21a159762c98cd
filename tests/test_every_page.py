"""Every page of every plugin in Chromium at 1280x800 and 390x844, and in dark mode at 1280x800:
axe-core finds no serious or critical violation (contrast included), every image loads (code
thumbnails, logos), nothing scrolls sideways on a phone, and a screenshot of each page lands in
tests/screenshots-out/{desktop,phone,dark}/ (or $QRP_SCREENSHOTS) for people to look at.

One test per look (laptop, phone, dark laptop), so the test workers share them: the pages are
found by following links from the home page, plus the ones no link reaches (tokens in e-mails,
short links). Every HTML page the app registers must be visited, so a new plugin's pages join
the gate by themselves (or this test names what it could not reach).
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from PIL import Image
from werkzeug.exceptions import MethodNotAllowed, NotFound

from qrp_analytics.ingest import ingest_batch
from qrp_teams import services as teams
from qrp_teams.models import Invitation
from qrplatform.auth.models import Membership
from qrplatform.events import Event, outbox
from qrplatform.tenancy import unscoped
from qrplatform.testing.a11y import axe_violations
from qrplatform.testing.browser import log_in, sideways_overflow
from qrplatform.testing.pytest_plugin import set_plan
from tests.domains.makers import make_domain
from tests.microsites.makers import make_published_microsite
from tests.webhooks.makers import make_logged_delivery

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(os.environ.get("QRP_SCREENSHOTS") or Path(__file__).parent / "screenshots-out")
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
MAX_PAGES = 70
# Endpoints that answer files, fragments or redirects rather than pages.
NOT_PAGES = {"static", "files.serve_file", "health.healthz", "health.readyz",
             "api-docs.openapi_json", "qr.download", "job_pages.job_file", "teams.audit_csv",
             "analytics.live", "assets.card", "assets.picker", "domains.redirect_map",
             "qr.export_redirect_map", "qr.design_fields", "qr.bulk_sample",
             # Served on custom domains only (by Host): tests/domains/test_pages_in_browser.py
             # opens them by name in Chromium and runs axe on them.
             "domains_public.root", "domains_public.not_found",
             "domains_public.certificate_allowed",
             # A published microsite's stylesheet, click redirect and files (its page is
             # visited below, from the `public` list).
             "microsites_public.stylesheet", "microsites_public.go",
             "microsites_public.block_file",
             # The builder's preview frame and its stylesheet (inside the editor, which is
             # checked), and the leads as CSV.
             "microsites.preview", "microsites.preview_css", "microsites.leads_csv"}
# Links the crawler does not follow: files, other pages' query variants, leaving the session.
SKIP = re.compile(r"/download|/jobs/[^/]+/files/|\.csv$|\.json$|^/files/|/static/|^/api/v1"
                  r"|^/logout|^/metrics")


def _png(size=64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), "#e11d48").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def seeded(app, db, api, create_user):
    """A workspace with something on every page: codes of several kinds, a design, scans, a
    teammate and an invitation, a finished bulk job, an API token."""
    owner_user = create_user(email="ada@example.com", name="Ada Lovelace")
    owner = api(owner_user)
    set_plan(owner.workspace_id, "business")
    make_domain(owner)   # a verified custom domain, for the domains pages

    def code(**body):
        response = owner.post("/api/v1/qr-codes", json=body)
        assert response.status_code == 201, response.json
        return response.json

    menu = code(name="Restaurant menu", kind="dynamic", type="url",
                destination="https://example.com/menu", tags=["menus", "floor 1"])
    code(name="Guest Wi-Fi", kind="static", type="wifi",
         content={"ssid": "Cafe", "password": "espresso42", "security": "WPA"})
    secret = code(name="Staff notes", kind="dynamic", type="text",
                  content={"text": "Opening hours: 9 to 5"}, password="letmein")
    note = code(name="Welcome note", kind="dynamic", type="text",
                content={"text": "Welcome to the cafe!"})
    # What people paste: a name, an address and a tag with nowhere to break a line. No page
    # may scroll sideways on a phone for them.
    long_word = "SpringCampaign2026FlagshipStoresOpeningWeekendVouchersPosterA1"
    long_code = code(name=long_word, kind="dynamic", type="url", tags=[long_word[:50]],
         destination=f"https://example.com/landing?campaign={long_word}{long_word}")
    gone = code(name="Old flyer", kind="dynamic", type="url", destination="https://example.com")
    owner.delete(f"/api/v1/qr-codes/{gone['id']}")
    folder = owner.post("/api/v1/qr-folders", json={"name": "Menus"})
    assert folder.status_code == 201, folder.json
    owner.patch(f"/api/v1/qr-codes/{menu['id']}", json={"folder_id": folder.json["id"]})
    assert owner.post("/api/v1/qr-folders", json={"name": long_word}).status_code == 201
    owner.post("/api/v1/qr-design-templates", json={"name": "Brand purple", "design": {
        "foreground": "#4c1d95", "module_style": "rounded"}})
    bulk = owner.post("/api/v1/qr-codes/bulk", data={
        "file": (io.BytesIO(b"name,url\nTable 1,https://example.com/t/1\n"
                            b"Table 2,https://example.com/t/2\n"), "tables.csv"),
        "kind": "dynamic", "type": "url"}, content_type="multipart/form-data")
    assert bulk.status_code == 202, bulk.json
    logo = owner.post("/api/v1/assets", data={"file": (io.BytesIO(_png(300)), "Brand logo.png"),
                                              "tags": ["brand"]},
                      content_type="multipart/form-data")
    assert logo.status_code == 201, logo.json
    long_file = owner.post("/api/v1/assets", data={
        "file": (io.BytesIO(_png(64)), f"{long_word}.png")}, content_type="multipart/form-data")
    assert long_file.status_code == 201, long_file.json
    invite = owner.post("/api/v1/teams/invitations", json={"email": "grace@example.com",
                                                           "role": "editor"})
    assert invite.status_code == 201, invite.json
    teammate = create_user(email="tim@example.com", name="Tim Berners")
    db.session.add(Membership(user_id=teammate.id, workspace_id=owner.workspace_id,
                              role="viewer"))
    db.session.commit()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    events = [Event(type="qr.scanned", workspace_id=owner.workspace_id,
                    occurred_at=(now - timedelta(hours=h)).isoformat(),
                    data={"code_id": menu["id"], "short_code": menu["short_code"],
                          "method": "GET", "user_agent": "Mozilla/5.0 (iPhone)",
                          "referrer": None, "country": "DE", "language": "de",
                          "ip_hash": f"{h:064x}", "visitor_hash": f"{h:032x}",
                          "classification": "human", "reason": None, "outcome": "redirected"})
              for h in range(0, 24 * 20, 5)]
    with unscoped():
        ingest_batch(events)
    outbox.drain()
    with app.test_request_context(), unscoped():
        invitation = db.session.get(Invitation, invite.json["id"])
        invitation_url = urlsplit(teams.invitation_link(invitation)).path
    # A webhook endpoint (paused: nothing is sent from here) with a delivery in its log.
    endpoint = owner.post("/api/v1/webhooks", json={
        "url": "https://93.184.215.14/hooks", "events": ["qr.*"], "enabled": False,
        "description": f"Order system {long_word}"})
    assert endpoint.status_code == 201, endpoint.json
    make_logged_delivery(owner.workspace_id, endpoint.json["id"])
    microsite = make_published_microsite(owner)
    # Someone with an authenticator app, to see the second step of signing in.
    careful = create_user(email="kay@example.com", name="Kay Careful")
    with app.test_request_context():  # as the settings page does (it ends other sessions)
        totp_key = parse_qs(urlsplit(teams.begin_totp(careful)).query)["secret"][0]
        teams.confirm_totp(careful, pyotp.TOTP(totp_key).at(datetime.now(UTC)
                                                            - timedelta(seconds=30)))
    return {
        "owner": owner_user,
        "two_step_user": careful,
        # Pages no link leads to (e-mailed links, short links, a job's own page).
        "public": ["/", "/login", "/signup", "/forgot-password", "/reset-password/expired-token",
                   invitation_url, f"/r/{secret['short_code']}", f"/r/{note['short_code']}/c",
                   f"/r/{gone['short_code']}", "/no-such-page", "/api/docs",
                   f"/m/{microsite['slug']}"],
        "private": ["/dashboard", f"/jobs/{bulk.json['job_id']}",
                    f"/qr/bulk/jobs/{bulk.json['job_id']}", "/qr/",
                    f"/qr/?folder={folder.json['id']}", "/qr/?q=no-such-code",
                    # One page per endpoint is crawled: these show the long names.
                    f"/qr/{long_code['id']}", f"/assets/{long_file.json['id']}"],
    }


def _settle(page):
    page.wait_for_load_state("load")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    page.wait_for_timeout(150)


# Lazy images load now (a full-page screenshot would show them blank), then every <img> that
# finished without pixels is named: a broken thumbnail fails the gate like a contrast error.
BROKEN_IMAGES = """async () => {
    const images = [...document.images];
    images.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
    await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
        img.addEventListener("load", done, {once: true});
        img.addEventListener("error", done, {once: true});
        setTimeout(done, 5000);
    })));
    return images.filter((img) => !img.complete || img.naturalWidth === 0)
                 .map((img) => img.currentSrc || img.src || img.outerHTML.slice(0, 120));
}"""


# A whole page, but no taller than this: the API reference is some 100,000 px long, and one
# picture of it took 20-30 s on a busy machine (more than Playwright's default 30 s allows once
# the load average passes 10; the timeout stays generous for the rest).
MAX_SHOT_HEIGHT = 8000


def _screenshot(page, path: Path) -> None:
    height = page.evaluate("document.documentElement.scrollHeight")
    clip = None
    if height > MAX_SHOT_HEIGHT:
        clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": MAX_SHOT_HEIGHT}
    page.screenshot(path=str(path), full_page=True, clip=clip, timeout=120_000)


def _check(page, path, look, problems, name):
    page.goto(path)
    _settle(page)
    for src in page.evaluate(BROKEN_IMAGES):
        problems.append(f"{look} {path}: image did not load: {src}")
    for line in axe_violations(page):
        problems.append(f"{look} {path}: {line}")
    if look == "phone":
        overflow = sideways_overflow(page)
        if overflow > 0:
            problems.append(f"phone {path}: scrolls sideways by {overflow}px")
    _screenshot(page, SHOTS / look / f"{name}.png")


def _links(page, base_url) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != base_url or SKIP.search(parts.path):
            continue
        found.append(parts.path)
    return found


def _endpoint(app, path):
    try:
        return app.url_map.bind("localhost").match(path, method="GET")[0]
    except (NotFound, MethodNotAllowed):
        return None


# Each look is its own test, so pytest-xdist's workers share the gate: a laptop, a phone, and a
# laptop in dark mode (the system's setting), each crawling from the home page on its own.
LOOKS = {"desktop": {"viewport": WIDTHS["desktop"]},
         "phone": {"viewport": WIDTHS["phone"], "is_mobile": True},
         "dark": {"viewport": WIDTHS["desktop"], "color_scheme": "dark"}}


@pytest.mark.parametrize("look", LOOKS)
def test_every_page_passes_axe(app, browser, live_server, seeded, look):
    problems: list[str] = []
    visited_endpoints: set[str] = set()
    shutil.rmtree(SHOTS / look, ignore_errors=True)
    (SHOTS / look).mkdir(parents=True)
    names: dict[str, str] = {}

    def name(path):
        """Screenshots named after the page's endpoint, so each run overwrites the last."""
        if path not in names:
            endpoint = _endpoint(app, path) or "not-found"
            taken = sum(1 for n in names.values() if n.split("~")[0] == endpoint)
            names[path] = endpoint + (f"~{taken + 1}" if taken else "")
        return names[path]

    # Signed out: the landing page, sign-up, log-in, e-mailed links, what scanners see.
    context = browser.new_context(base_url=live_server, **LOOKS[look])
    page = context.new_page()
    for path in seeded["public"]:
        _check(page, path, look, problems, name(path))
        visited_endpoints.add(_endpoint(app, path))
    log_in(page, seeded["two_step_user"].email, then="**/login/two-step")
    _check(page, "/login/two-step", look, problems, name("/login/two-step"))
    visited_endpoints.add("teams.two_step")
    context.close()

    # Signed in: crawl from the home page.
    context = browser.new_context(base_url=live_server, **LOOKS[look])
    page = context.new_page()
    log_in(page, seeded["owner"].email)
    queue, seen, pages = deque(seeded["private"]), set(seeded["private"]), []
    while queue and len(pages) < MAX_PAGES:
        path = queue.popleft()
        _check(page, path, look, problems, name(path))
        pages.append(path)
        visited_endpoints.add(_endpoint(app, path))
        for link in _links(page, live_server):
            endpoint = _endpoint(app, link)
            # One page per endpoint is enough (every code's detail page is the same template).
            if link not in seen and endpoint and endpoint not in visited_endpoints | {
                    _endpoint(app, p) for p in queue}:
                seen.add(link)
                queue.append(link)
    context.close()

    pages_registered = {rule.endpoint for rule in app.url_map.iter_rules()
                        if "GET" in rule.methods and not rule.rule.startswith("/api/v1")
                        and rule.endpoint not in NOT_PAGES
                        and not rule.endpoint.endswith(".static")}
    missing = pages_registered - visited_endpoints
    if missing:
        problems.append(f"pages no visit reached: {sorted(missing)}; link them from a visited "
                        "page or add their URL to the `seeded` fixture")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
