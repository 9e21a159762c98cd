"""Presentation helpers every page can use (Jinja globals and filters, registered by the core).

- ``icon(name, label=None)``: a Lucide icon (npm lucide-static, copied by `make assets`) inlined
  as SVG, so it takes the text colour and costs no request. Decorative unless ``label`` is given.
- ``sparkline(values, label)``: a small inline SVG line for a series of counts, with its numbers
  in the accessible name.
- ``initials(name)``, ``|timeago``, ``|number`` and ``|filesize``: the little words of a
  dashboard (``file_size`` is also what messages about sizes use).

The macros built on these live in templates/partials/_ui.html (docs/plugins.md, "Pages and
components").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from flask import Flask
from markupsafe import Markup, escape

from qrplatform.sqltypes import as_utc

ICON_DIR = Path(__file__).parent / "static" / "vendor" / "lucide"
_ICON_NAME = re.compile(r"^[a-z0-9-]+$")
_SVG_BODY = re.compile(r"<svg[^>]*>(.*)</svg>", re.S)


@cache
def _icon_body(name: str) -> str:
    if not _ICON_NAME.match(name):
        raise ValueError(f"invalid icon name {name!r}")
    path = ICON_DIR / f"{name}.svg"
    if not path.is_file():
        raise LookupError(f"no Lucide icon {name!r} in {ICON_DIR} (run `make assets`; names "
                          "are at https://lucide.dev/icons)")
    match = _SVG_BODY.search(path.read_text())
    return " ".join(match.group(1).split()) if match else ""


def icon(name: str, label: str | None = None, size: int = 20, class_: str = "") -> Markup:
    """An inline SVG icon; hidden from screen readers unless it carries a ``label``."""
    a11y = (f'role="img" aria-label="{escape(label)}"' if label else
            'aria-hidden="true" focusable="false"')
    classes = f"icon icon-{name} {class_}".strip()
    return Markup(
        f'<svg class="{escape(classes)}" xmlns="http://www.w3.org/2000/svg" width="{size}" '
        f'height="{size}" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" {a11y}>'
        f"{_icon_body(name)}</svg>"
    )


def sparkline(values, label: str = "", width: int = 96, height: int = 28) -> Markup:
    """A line through ``values`` (oldest first) with the last point marked; empty series draw
    a flat line. The accessible name carries the numbers, so nothing is only visual."""
    values = [float(v or 0) for v in values] or [0.0]
    top = max(values) or 1.0
    step = width / max(1, len(values) - 1)
    pad = 3
    points = [(round(i * step, 1), round(height - pad - (v / top) * (height - 2 * pad), 1))
              for i, v in enumerate(values)]
    if len(points) == 1:
        points.append((float(width), points[0][1]))
    line = " ".join(f"{x},{y}" for x, y in points)
    area = f"0,{height} {line} {width},{height}"
    numbers = ", ".join(f"{v:g}" for v in values)
    name = f"{label}: {numbers}" if label else numbers
    last_x, last_y = points[-1]
    return Markup(
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" preserveAspectRatio="none" role="img" aria-label="{escape(name)}">'
        f'<polygon points="{area}" class="sparkline-area"/>'
        f'<polyline points="{line}" class="sparkline-line" fill="none"/>'
        f'<circle cx="{last_x}" cy="{last_y}" r="2.5" class="sparkline-dot"/></svg>'
    )


def initials(name: str) -> str:
    words = [w for w in re.split(r"[\s._@-]+", name or "") if w]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def timeago(moment: datetime | None, now: datetime | None = None) -> str:
    """"just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", else the date."""
    if moment is None:
        return ""
    moment = as_utc(moment)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return moment.strftime("%Y-%m-%d")


def number(value) -> str:
    return f"{value or 0:,}"


def file_size(count: int | None) -> str:
    """A size in bytes as people read it, in SI units: "850 bytes", "12.3 kB", "32 MB"."""
    if count is None:
        return "—"
    if count < 1000:
        return f"{count} bytes"
    value = float(count)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:,.1f}".removesuffix(".0") + f" {unit}"


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(icon=icon, sparkline=sparkline, initials=initials)
    app.jinja_env.filters.update(timeago=timeago, number=number, filesize=file_size)
