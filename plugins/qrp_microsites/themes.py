"""The looks a page can take: built-in themes, the shipped fonts, and the per-page stylesheet
(theme variables plus the owner's custom CSS, sanitised)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError

from qrp_microsites.fields import AssetId, Choice, Color

# Every built-in theme keeps text and buttons at >= 4.5:1 contrast (axe's AA check).
THEMES: dict[str, dict[str, str]] = {
    "classic": {"label": "Classic", "background": "#f8fafc", "surface": "#ffffff",
                "text": "#0f172a", "muted": "#475569", "accent": "#4338ca",
                "accent_text": "#ffffff", "font": "inter", "button_shape": "rounded"},
    "midnight": {"label": "Midnight", "background": "#0f172a", "surface": "#1e293b",
                 "text": "#f1f5f9", "muted": "#cbd5e1", "accent": "#fbbf24",
                 "accent_text": "#111827", "font": "inter", "button_shape": "pill"},
    "forest": {"label": "Forest", "background": "#ecfdf5", "surface": "#ffffff",
               "text": "#052e16", "muted": "#166534", "accent": "#15803d",
               "accent_text": "#ffffff", "font": "lora", "button_shape": "rounded"},
    "sunset": {"label": "Sunset", "background": "#fff7ed", "surface": "#ffffff",
               "text": "#431407", "muted": "#9a3412", "accent": "#c2410c",
               "accent_text": "#ffffff", "font": "nunito", "button_shape": "pill"},
    "mono": {"label": "Monochrome", "background": "#ffffff", "surface": "#f4f4f5",
             "text": "#09090b", "muted": "#3f3f46", "accent": "#18181b",
             "accent_text": "#ffffff", "font": "mono", "button_shape": "square"},
}
DEFAULT_THEME = "classic"

# Fonts shipped with the app (npm @fontsource-variable, copied by `make assets`; no font CDN):
# name -> (label, CSS font stack, the font file under the plugin's static folder or None).
def _font(name: str, label: str, fallback: str) -> tuple[str, str, str]:
    return (label, f"'{label}', {fallback}", f"vendor/fonts/{name}-latin-wght-normal.woff2")


FONTS: dict[str, tuple[str, str, str | None]] = {
    "inter": _font("inter", "Inter", "system-ui, sans-serif"),
    "nunito": _font("nunito", "Nunito", "system-ui, sans-serif"),
    "lora": _font("lora", "Lora", "Georgia, serif"),
    "playfair": _font("playfair-display", "Playfair Display", "Georgia, serif"),
    "mono": _font("jetbrains-mono", "JetBrains Mono", "ui-monospace, monospace"),
    "system": ("System", "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", None),
    "serif": ("Serif", "Georgia, 'Times New Roman', serif", None),
}
BUTTON_SHAPES = {"square": "0", "rounded": "0.6rem", "pill": "999px"}
MAX_CUSTOM_CSS = 20_000


class ThemeFields(Schema):
    """A page's look: a built-in theme, optionally with its colours, font and button shape
    changed."""

    name = Choice(tuple(THEMES), load_default=DEFAULT_THEME)
    background = Color()
    surface = Color()
    text = Color()
    muted = Color()
    accent = Color()
    accent_text = Color()
    font = Choice(tuple(FONTS))
    button_shape = Choice(tuple(BUTTON_SHAPES))
    background_asset_id = AssetId(load_default=None, allow_none=True,
                                  metadata={"description": "a background picture"})


def resolved(theme: dict[str, Any] | None) -> dict[str, Any]:
    """The theme's every value: the built-in one's, with the page's own changes on top."""
    theme = theme or {}
    base = THEMES.get(theme.get("name") or DEFAULT_THEME, THEMES[DEFAULT_THEME])
    values = {**base, **{k: v for k, v in theme.items() if v not in (None, "")}}
    values["name"] = theme.get("name") if theme.get("name") in THEMES else DEFAULT_THEME
    return values


def describe() -> dict[str, Any]:
    return {"themes": [{"name": name, **values} for name, values in THEMES.items()],
            "fonts": [{"name": name, "label": label} for name, (label, _, _) in FONTS.items()],
            "button_shapes": list(BUTTON_SHAPES)}


# -- custom CSS ---------------------------------------------------------------------------------

_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_FORBIDDEN = [
    (re.compile(r"@import", re.IGNORECASE), "@import is not allowed."),
    (re.compile(r"@charset|@namespace", re.IGNORECASE), "@charset and @namespace are not "
                                                        "allowed."),
    (re.compile(r"expression\s*\(|javascript:|vbscript:|-moz-binding|behavior\s*:",
                re.IGNORECASE), "Script in CSS is not allowed."),
    (re.compile(r"<|\\"), "Use plain CSS: no '<' and no backslash escapes."),
    (re.compile(r"image-set\s*\(|src\s*\(", re.IGNORECASE), "Use url() for pictures."),
]


def clean_custom_css(css: str, allowed_origins: tuple[str, ...] = ()) -> str:
    """The owner's CSS, or ValidationError: no @import, no script, and url() only to this
    site's own paths or the asset CDN (``allowed_origins``): a page never loads another
    origin's file."""
    css = css.replace("\x00", "").strip()
    if len(css) > MAX_CUSTOM_CSS:
        raise ValidationError(f"At most {MAX_CUSTOM_CSS} characters of custom CSS.")
    for pattern, message in _FORBIDDEN:
        if pattern.search(css):
            raise ValidationError(message)
    for match in _URL.finditer(css):
        target = match.group(2).strip()
        parts = urlsplit(target)
        if target.startswith("/") and not target.startswith("//") and not parts.scheme:
            continue
        origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
        if origin is None or origin not in allowed_origins:
            raise ValidationError(f"url({target[:60]}) points at another site; use a file of "
                                  "your media library.")
    if css.count("{") != css.count("}"):
        raise ValidationError("Unbalanced braces in the custom CSS.")
    return css


def stylesheet(theme: dict[str, Any], font_url: str | None, background_url: str | None,
               custom_css: str) -> str:
    """The page's own stylesheet: the theme as CSS variables, then the owner's CSS."""
    values = resolved(theme)
    label, stack, _file = FONTS.get(values.get("font"), FONTS["inter"])
    lines = []
    if font_url:
        lines.append(f"@font-face{{font-family:'{label}';src:url({font_url}) format('woff2');"
                     "font-weight:100 900;font-display:swap}")
    variables = {
        "--ms-bg": values["background"], "--ms-surface": values["surface"],
        "--ms-text": values["text"], "--ms-muted": values["muted"],
        "--ms-accent": values["accent"], "--ms-accent-text": values["accent_text"],
        "--ms-font": stack, "--ms-radius": BUTTON_SHAPES.get(values["button_shape"], "0.6rem"),
    }
    lines.append(":root{" + ";".join(f"{k}:{v}" for k, v in variables.items()) + "}")
    if background_url:
        lines.append(f"body{{background-image:url({background_url})}}")
    if custom_css:
        lines.append("/* custom */\n" + custom_css)
    return "\n".join(lines) + "\n"


def check_theme(theme: Any) -> dict[str, Any]:
    if theme is None:
        return {"name": DEFAULT_THEME}
    if not isinstance(theme, dict):
        raise ValidationError({"theme": ["An object, e.g. {\"name\": \"classic\"}."]})
    try:
        loaded = ThemeFields().load(theme, unknown="exclude")
    except ValidationError as exc:
        raise ValidationError({"theme": exc.messages}) from exc
    return {k: v for k, v in loaded.items() if v is not None}

