"""Browser fixtures: Debian's chromium driven by Playwright, against the app on a real socket."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from qrplatform.testing.servers import thread_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def on_errors(tab, problems: list[str] | None = None, *, console: bool = True,
              ignore: Callable[[object], bool] | None = None) -> list[str]:
    """Note the tab's JavaScript errors, and (``console``) the errors it logs, in ``problems``
    (a new list when none given), which it returns for the test to assert empty. ``ignore``:
    a logged error (Playwright's ConsoleMessage) the test expects, e.g. a 422 answer shown
    beside its field."""
    problems = [] if problems is None else problems
    tab.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    if console:
        tab.on("console", lambda message: problems.append(message.text)
               if message.type == "error" and not (ignore and ignore(message)) else None)
    return problems


@contextmanager
def served(app) -> Iterator[str]:
    """``app`` on a free loopback port; yields its base URL, which is also the app's public
    base URL meanwhile (as in a deployment): the pages' images come from their own origin, as
    the CSP wants."""
    backend = app.extensions["qrp.storage"]
    public, files = app.config["PUBLIC_BASE_URL"], getattr(backend, "base_url", None)
    with thread_server(app) as base_url:
        app.config["PUBLIC_BASE_URL"] = base_url
        if hasattr(backend, "root"):  # the embedded folder, served by the app at /files
            backend.base_url = f"{base_url}/files"
        try:
            yield base_url
        finally:
            app.config["PUBLIC_BASE_URL"] = public
            if files is not None:
                backend.base_url = files


def sideways_overflow(tab) -> int:
    """How many CSS pixels the page scrolls sideways (0 when it fits). Measured against the
    layout viewport: in a phone's emulation (``is_mobile``) Chromium zooms out to fit a page
    that is too wide, and ``window.innerWidth`` grows with it, hiding the overflow."""
    return tab.evaluate("document.documentElement.scrollWidth "
                        "- document.documentElement.clientWidth")


def log_in(tab, email: str, password: str | None = None, then: str = "**/dashboard") -> None:
    """Sign in through the login form as a person does, and wait for the page it leads to."""
    from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD

    tab.goto("/login")
    tab.get_by_label("E-mail").fill(email)
    tab.get_by_label("Password").fill(password or DEFAULT_PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(then)


@pytest.fixture
def live_server(app, db):
    """The test app served on a free loopback port (``served``); yields its base URL."""
    with served(app) as base_url:
        yield base_url


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab (phone-sized when the test asks) that fails the test on CSP
    violations and JavaScript errors."""
    context = browser.new_context(base_url=live_server)
    tab = context.new_page()
    problems = on_errors(tab)
    yield tab
    context.close()
    assert not problems, problems
