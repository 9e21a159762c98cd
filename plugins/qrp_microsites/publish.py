"""Rendering a page: once, when it is published (or for the builder's preview), never per view.

``render(site)`` draws the draft (or a version's content) with each block type's template
into static HTML plus the page's own stylesheet, and collects what the public routes need
without touching the database again: the click targets (``go``: a visitor's click is counted
per block, then redirected to a target fixed at publish time, so no open redirect) and the
files blocks offer (a vCard). ``entry(version)`` is what the cache serves.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import render_template
from markupsafe import Markup
from marshmallow import Schema

from qrp_microsites import blocks as block_registry
from qrp_microsites import themes
from qrp_microsites.fields import AssetId, Text
from qrplatform.registry import registry

PUBLIC_PREFIX = "/m"


class SeoFields(Schema):
    """What the page's head tells search engines and link previews."""

    title = Text(max=70, metadata={"description": "the page's title (default: its name)"})
    description = Text(max=200)
    image_asset_id = AssetId(load_default=None, allow_none=True, kinds=("image",), metadata={
        "description": "Open Graph / Twitter card picture (an image asset)"})


@dataclass
class Rendered:
    html: str
    css: str
    targets: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)

    @property
    def css_hash(self) -> str:
        return hashlib.sha256(self.css.encode()).hexdigest()[:16]


def page_path(slug: str) -> str:
    return f"{PUBLIC_PREFIX}/{slug}"


def css_path(slug: str, css_hash: str) -> str:
    return f"{page_path(slug)}/site-{css_hash}.css"


def static_url(filename: str) -> str:
    """A file of the microsites plugin's static folder, root-relative (so the page works on a
    custom domain too)."""
    return f"/microsites/static/{filename}"


def public_url(slug: str, domain: str | None = None) -> str:
    from qrplatform import hosts

    if domain:
        return hosts.custom_domain_url(domain) + "/"
    return hosts.public_base_url() + page_path(slug)


def asset_lookup() -> Callable[[int | None], Any]:
    """id -> the media library's AssetRef (None when missing or assets is not enabled)."""
    if not registry().enabled("assets"):
        return lambda _asset_id: None
    from qrp_assets import services as assets
    from qrplatform.errors import NotFound

    found: dict[int, Any] = {}

    def lookup(asset_id):
        if asset_id is None:
            return None
        if asset_id not in found:
            try:
                found[asset_id] = assets.resolve(int(asset_id))
            except NotFound:
                found[asset_id] = None
        return found[asset_id]

    return lookup


def render(*, slug: str, name: str, blocks: list[dict[str, Any]], theme: dict[str, Any],
           seo: dict[str, Any], custom_css: str, noindex: bool, url: str,
           css_href: str | None = None, preview: bool = False) -> Rendered:
    """The page as static HTML and its stylesheet. ``css_href`` overrides where the page
    links its stylesheet (the builder's preview serves it elsewhere)."""
    asset = asset_lookup()
    targets: dict[str, str] = {}
    files: dict[str, list[str]] = {}
    values = themes.resolved(theme)
    font_file = themes.FONTS.get(values.get("font"), themes.FONTS["inter"])[2]
    background = asset(values.get("background_asset_id"))
    css = themes.stylesheet(values, static_url(font_file) if font_file else None,
                            background.url if background else None, custom_css)
    site = {"name": name, "slug": slug, "url": url, "theme": values, "preview": preview}
    drawn = []
    types = block_registry.block_types()
    for block in blocks:
        kind = types.get(block.get("type"))
        if kind is None or block.get("hidden"):
            continue
        drawn.append(_render_block(kind, block, site, asset, targets, files, slug))
    image = asset(seo.get("image_asset_id"))
    rendered = Rendered(html="", css=css, targets=targets, files=files)
    rendered.html = render_template(
        "microsites/page/page.html", site=site, blocks=Markup("\n").join(drawn),
        title=seo.get("title") or name, description=seo.get("description") or "",
        image=image.url if image else None, noindex=noindex,
        css_href=css_href or css_path(slug, rendered.css_hash),
        stylesheet=static_url("page.css"), script=static_url("page.js"),
        icon=static_url("page-icon.svg"))
    return rendered


def _render_block(kind: block_registry.Block, block: dict[str, Any], site: dict[str, Any],
                  asset: Callable, targets: dict[str, str], files: dict[str, list[str]],
                  slug: str) -> Markup:
    block_id = block.get("id") or "b"
    clicks = iter(range(1000))

    def go(url: str | None) -> str | None:
        """The link a visitor follows: counted for this block, then redirected to ``url``."""
        if not url:
            return None
        key = f"{block_id}.{next(clicks)}"
        targets[key] = url
        return f"{page_path(slug)}/go/{key}"

    def file_url(filename: str) -> str:
        return f"{page_path(slug)}/f/{block_id}/{filename}"

    if kind.files is not None:
        for filename, (content_type, text) in kind.files(block).items():
            files[f"{block_id}/{filename}"] = [content_type, text]
    html = render_template(kind.template, block=block, site=site, asset=asset, go=go,
                           file_url=file_url, block_type=kind, **HELPERS)
    return Markup(f'<section class="ms-block ms-{kind.name}" id="block-{block_id}">'
                  f"{html}</section>")


SOCIAL_DIR = Path(__file__).parent / "static" / "vendor" / "social"
LUCIDE_FALLBACK = {"email": "mail", "website": "globe", "whatsapp": "message-circle",
                   "telegram": "send", "discord": "message-square", "spotify": "music",
                   "soundcloud": "music", "youtube": "circle-play",
                   "linkedin": "briefcase"}


@functools.cache
def _social_svg(network: str) -> str | None:
    path = SOCIAL_DIR / f"{network}.svg"
    if not re.match(r"^[a-z]+$", network) or not path.is_file():
        return None
    body = re.sub(r"<title>.*?</title>", "", path.read_text(), flags=re.DOTALL)
    return body.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)


def social_icon(network: str) -> Markup:
    """A social network's icon (shipped with the plugin), else a Lucide stand-in."""
    from qrplatform.ui import icon

    found = _social_svg(network)
    if found is not None:
        return Markup(found)
    return icon(LUCIDE_FALLBACK.get(network, "link"))


HELPERS = {
    "social_icon": social_icon,
    "networks": block_registry.SOCIAL_NETWORKS,
    "day_names": block_registry.DAY_NAMES,
    "video_player": lambda b: block_registry.video_urls(b["provider"], b["video_id"])[0],
    "video_page": lambda b: block_registry.video_urls(b["provider"], b["video_id"])[1],
}


def entry(site, version) -> dict[str, Any]:
    """What the public routes serve for a published page (JSON, cached in Redis and in each
    process): the HTML and CSS rendered at publish time, the click targets, the files."""
    css_hash = hashlib.sha256((version.css or "").encode()).hexdigest()[:16]
    return {
        "id": site.id, "workspace_id": site.workspace_id, "slug": site.slug,
        "name": site.name, "version": version.number,
        "html": version.html, "css": version.css, "css_hash": css_hash,
        "etag": hashlib.sha256((version.html or "").encode()).hexdigest()[:32],
        "password_hash": site.password_hash, "noindex": site.noindex,
        "targets": version.targets or {}, "files": version.files or {},
        "domain": site.domain,
    }
