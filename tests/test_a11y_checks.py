"""The accessibility helper judges a page as a person sees it once it has settled."""

import pytest

from qrplatform.testing.a11y import axe_violations

pytestmark = pytest.mark.browser

# Grey text that passes (4.5:1) at full opacity and fades out over 0.6 s once "done" is set:
# half-way it has the contrast of neither state.
FADING = """<!doctype html><html lang="en"><head><title>Fading</title><style>
  .note { color: #767676; background: #fff; opacity: 1; transition: opacity 600ms linear; }
  .done .note { opacity: 0; }
</style></head><body><main><h1>Page</h1><p class="note">Loading…</p></main></body></html>"""


def test_axe_runs_once_a_fading_element_has_finished_fading(browser):
    context = browser.new_context()
    tab = context.new_page()
    tab.set_content(FADING)
    assert axe_violations(tab) == []
    tab.evaluate("document.body.classList.add('done')")
    tab.wait_for_timeout(250)   # half-way: too pale to pass, too visible to be skipped
    assert axe_violations(tab) == []
    assert tab.evaluate("getComputedStyle(document.querySelector('.note')).opacity") == "0"
    context.close()
