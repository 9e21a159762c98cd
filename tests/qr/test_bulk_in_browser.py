"""The bulk page in Chromium: a sample file per type, the chosen file checked against the plan
before anything is sent (and kept chosen after a refusal, with the focus on the error
summary), a progress bar that moves while a worker draws the codes, and a link to them."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from qrp_qr import drawing
from qrplatform.jobs import ThreadRunner
from qrplatform.testing.browser import log_in, on_errors, sideways_overflow
from qrplatform.testing.pytest_plugin import set_plan
from tests.qr.test_bulk import csv_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def open_tab(browser, live_server):
    """open_tab(user, width) → a signed-in tab; the test fails on any JavaScript or CSP
    error."""
    contexts, problems = [], []

    def opener(user, width):
        context = browser.new_context(base_url=live_server, viewport=WIDTHS[width],
                                      is_mobile=width == "phone", accept_downloads=True)
        contexts.append(context)
        tab = context.new_page()
        on_errors(tab, problems)
        log_in(tab, user.email)
        return tab

    yield opener
    for context in contexts:
        context.close()
    assert not problems, problems


def rows_file(tmp_path, count: int, name="codes.csv"):
    path = tmp_path / name
    path.write_bytes(csv_bytes([["name", "url"]] + [
        [f"Table {i}", f"https://example.com/t/{i}"] for i in range(count)]))
    return path


def settled(tab):
    tab.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_the_plan_is_checked_when_the_file_is_chosen_and_the_file_stays_chosen(
        api, create_user, open_tab, tmp_path):
    user = create_user()
    caller = api(user)          # the free plan: 25 live dynamic codes; 20 are made
    for i in range(20):
        assert caller.post("/api/v1/qr-codes", json={
            "kind": "dynamic", "type": "url", "destination": f"https://example.com/{i}"
        }).status_code == 201
    tab = open_tab(user, "phone")
    tab.goto("/qr/bulk")

    # A sample file to start from, for the chosen type.
    sample = tab.get_by_role("link", name="Download a sample CSV for Website (URL) codes")
    with tab.expect_download() as waiting:
        sample.click()
    header = next(csv.reader(io.StringIO(waiting.value.path().read_text())))
    assert header == ["name", "url", "tags"]
    tab.locator("select[name=type]").select_option("wifi")
    sample = tab.get_by_role("link", name="Download a sample CSV for Wi-Fi codes")
    with tab.expect_download() as waiting:
        sample.click()
    assert "ssid" in waiting.value.path().read_text().splitlines()[0]
    tab.locator("select[name=type]").select_option("url")
    settled(tab)

    # Eight dynamic codes where five fit: said as soon as the file is chosen, nothing made.
    tab.get_by_label("CSV file").set_input_files(rows_file(tmp_path, 8))
    verdict = tab.locator("[data-check]")
    verdict.wait_for()
    assert verdict.get_attribute("data-check") == "over-plan"
    assert "8 rows" in verdict.inner_text() and "allows 25" in verdict.inner_text()
    assert caller.get("/api/v1/qr-codes").json["total"] == 20

    # Sent anyway: refused, the summary takes the focus, and the file is still chosen.
    tab.get_by_role("button", name="Upload and create").click()
    tab.wait_for_function("() => document.activeElement?.matches('[data-error-summary]')")
    assert "allows 25" in tab.locator("[data-error-summary]").inner_text()
    assert tab.url.endswith("/qr/bulk")
    assert tab.get_by_label("CSV file").evaluate("input => input.files[0]?.name") == "codes.csv"
    assert caller.get("/api/v1/qr-codes").json["total"] == 20

    # Static codes fit: checked again on the change, then made, then listed by the link.
    tab.get_by_label("Static").check()
    tab.wait_for_function("() => document.querySelector('[data-check]')"
                          "?.getAttribute('data-check') === 'ok'")
    tab.get_by_role("button", name="Upload and create").click()
    tab.wait_for_url(re.compile(r".*/qr/bulk/jobs/.*"))
    link = tab.get_by_role("button", name="See the 8 new codes")
    link.wait_for()
    # Their scan grades, counted by letter (the default design: every one A).
    grades = tab.locator(".qr-job-grades")
    assert "Scan grades" in grades.inner_text() and "8 codes" in grades.inner_text()
    assert grades.locator(".qr-grade-letter").all_inner_texts() == ["A"]
    link.click()
    tab.wait_for_url(re.compile(r".*/qr/\?.*batch="))
    assert tab.locator("#qr-list tbody tr").count() == 8
    assert sideways_overflow(tab) <= 0


def test_the_progress_bar_moves_while_a_worker_draws_the_codes(
        app, api, create_user, open_tab, tmp_path, monkeypatch):
    # A worker thread, as `make run` has: the page polls while the job runs elsewhere.
    monkeypatch.setitem(app.extensions, "qrp.jobs.runner", ThreadRunner(app))
    # Each chunk of codes takes at least a few polls, as a large file's do: on a quick machine
    # 200 codes were drawn between two polls (CI saw 60, then 100).
    draw_chunk = drawing.draw_chunk

    def drawn_slowly(*args, **kwargs):
        time.sleep(0.3)
        return draw_chunk(*args, **kwargs)

    monkeypatch.setattr(drawing, "draw_chunk", drawn_slowly)
    user = create_user()
    set_plan(user.personal_workspace_id, "business")
    tab = open_tab(user, "desktop")
    tab.goto("/qr/bulk")
    tab.get_by_label("CSV file").set_input_files(rows_file(tmp_path, 200))
    tab.locator("[data-check='ok']").wait_for()
    tab.get_by_role("button", name="Upload and create").click()
    tab.wait_for_url(re.compile(r".*/qr/bulk/jobs/.*"))

    seen: list[int] = []
    said: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = tab.evaluate("""() => {
            const box = document.querySelector('.job-progress');
            const bar = box && box.querySelector('progress');
            return box && [box.dataset.state, bar && bar.getAttribute('value'),
                           box.innerText];
        }""")
        if state and state[1] is not None:
            seen.append(int(float(state[1])))
            said.add(state[2].split(":")[0])
        if state and state[0] in ("finished", "failed"):
            break
        time.sleep(0.1)
    assert state[0] == "finished", state
    # The bar stood somewhere between empty and full, and changed more than once on the way
    # (how many batches a busy machine lets a poll see varies; a jump 0 -> 100 fails).
    runs = [value for i, value in enumerate(seen) if i == 0 or value != seen[i - 1]]
    assert any(0 < value < 100 for value in seen) and len(runs) >= 3, \
        f"the bar never moved: {seen}"
    # The bar says what is done: each chunk of codes is saved as soon as it is drawn.
    assert any("Drew, checked and saved" in text for text in said), said

    link = tab.get_by_role("button", name="See the 200 new codes")
    link.click()
    tab.wait_for_url(re.compile(r".*/qr/\?.*batch="))
    assert "200 codes" in tab.locator("main").inner_text()
