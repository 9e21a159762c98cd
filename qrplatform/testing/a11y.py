"""Accessibility checks for browser tests: axe-core (npm, copied by `make assets` into
qrplatform/testing/vendor) run inside a Playwright page.

``axe_violations(page)`` returns the serious and critical violations as short readable lines;
a plugin's browser test asserts the list is empty on each of its pages. The script is handed to
the page through the DevTools protocol (``page.evaluate``), which the page's CSP does not block,
so the pages are checked exactly as served.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

AXE_PATH = Path(__file__).parent / "vendor" / "axe.min.js"
GATED_IMPACTS = ("serious", "critical")


@cache
def axe_source() -> str:
    if not AXE_PATH.is_file():
        raise FileNotFoundError(f"{AXE_PATH} is missing: run `make assets` (axe-core from npm)")
    return AXE_PATH.read_text()


def axe_results(page, context: str | None = None) -> list[dict]:
    """Every axe violation on the page once its finite transitions have ended (all impacts),
    as axe reports them: a loading indicator half-way through fading out has the contrast of
    neither state, and no person reads it then."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    return page.evaluate(
        """async (context) => {
            const ending = document.getAnimations().filter(
                (a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity);
            await Promise.all(ending.map((a) => a.finished.catch(() => null)));
            const results = await window.axe.run(context || document, {
                resultTypes: ["violations"],
            });
            return results.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({target: n.target.join(" "),
                                            summary: n.failureSummary})),
            }));
        }""",
        context,
    )


def axe_violations(page, impacts=GATED_IMPACTS, context: str | None = None) -> list[str]:
    """The violations of these impacts, one line per element: "rule (impact): help — target"."""
    lines = []
    for violation in axe_results(page, context):
        if violation["impact"] not in impacts:
            continue
        for node in violation["nodes"]:
            lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — "
                         f"{node['target']}")
    return lines
