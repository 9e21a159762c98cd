"""The microsites' rules, shared by the API, the builder pages, the public routes and other
plugins.

Other plugins use microsites through these functions only:

- ``get_microsite(id)``, ``list_microsites(...)``, ``public_url(site)``;
- ``published_url(id)`` → the public URL of a published page (a QR code pointing at it);
- ``render_preview(site, css_href=...)`` → the draft drawn as the visitor would see it;
- ``sites_on_domain(name)`` / ``move_sites_off_domain(name)`` (the domains plugin).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import unicodedata
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, has_request_context
from marshmallow import ValidationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from qrp_microsites import blocks as block_registry
from qrp_microsites import pagecache, publish, qrtype, themes
from qrp_microsites.models import Lead, Microsite, MicrositeVersion, ThemePreset
from qrp_qr import services as qr_services
from qrplatform import csvfiles, events, hosts, permissions, quotas
from qrplatform.errors import Conflict, NotFound, ServiceError
from qrplatform.extensions import db
from qrplatform.passwords import hash_password, password_matches
from qrplatform.registry import registry
from qrplatform.tenancy import get_or_404, tenant_scope, unscoped

SITES_QUOTA = "microsites.sites"
CUSTOM_CSS_QUOTA = "microsites.custom_css"
MAX_BLOCKS = 100
MAX_CONTENT_BYTES = 300_000
DRAFT_SNAPSHOTS_KEPT = 20
PER_PAGE = 24
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$")
RESERVED_SLUGS = {"static", "admin", "api", "new", "login", "www"}
LEAD_VALUE_MAX = 2000
ASSET_CONSUMER = "microsites.page"


class InvalidContent(ServiceError):
    """Input refused on several fields at once (``blocks.3.url``, ``theme.accent``)."""

    status = 422
    code = "validation_error"

    def __init__(self, messages: dict[str, Any], message: str = "Some fields are invalid; "
                                                                  "see 'fields'."):
        super().__init__(message)
        self.messages = messages

    @property
    def fields(self) -> dict[str, Any]:
        return self.messages


def _invalid(field: str, message: str) -> ServiceError:
    return ServiceError(message, field=field, status=422, code="validation_error")


# -- reading ------------------------------------------------------------------------------------

def get_microsite(microsite_id: int) -> Microsite:
    return get_or_404(Microsite, microsite_id, "No such microsite in this workspace.")


def list_microsites(*, q: str = "", status: str | None = None, page: int = 1,
                    per_page: int = PER_PAGE) -> tuple[list[Microsite], int]:
    query = select(Microsite)
    if status in ("draft", "published"):
        query = query.where(Microsite.status == status)
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(or_(func.lower(Microsite.name).like(pattern),
                                Microsite.slug.like(pattern)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.order_by(Microsite.created_at.desc(), Microsite.id.desc())
                              .limit(per_page).offset((max(1, page) - 1) * per_page))
    return list(rows), total


def site_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Microsite)) or 0


def public_url(site: Microsite) -> str:
    return publish.public_url(site.slug, site.domain)


def published_url(microsite_id: int) -> str | None:
    site = get_microsite(microsite_id)
    return public_url(site) if site.status == "published" else None


def list_versions(microsite_id: int) -> list[MicrositeVersion]:
    get_microsite(microsite_id)
    return list(db.session.scalars(select(MicrositeVersion)
                                   .where(MicrositeVersion.microsite_id == microsite_id)
                                   .order_by(MicrositeVersion.number.desc())))


# -- checking input -------------------------------------------------------------------------------

def load_blocks(raw: Any) -> list[dict[str, Any]]:
    """Blocks from a client, each validated and cleaned by its type, ids kept or given; one
    InvalidContent naming every field at fault (``blocks.2.url``)."""
    if not isinstance(raw, list):
        raise InvalidContent({"blocks": ["A list of blocks."]})
    if len(raw) > MAX_BLOCKS:
        raise InvalidContent({"blocks": [f"At most {MAX_BLOCKS} blocks."]})
    if len(json.dumps(raw, default=str)) > MAX_CONTENT_BYTES:
        raise InvalidContent({"blocks": [f"The page's content is over "
                                         f"{MAX_CONTENT_BYTES // 1000} kB."]})
    loaded, errors, seen = [], {}, set()
    for position, item in enumerate(raw):
        try:
            block = block_registry.load_block(item, position)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {
                "_schema": exc.messages}
            for name, message in messages.items():
                errors[f"blocks.{position}.{name}"] = message
            continue
        if block["id"] is None or block["id"] in seen:
            block["id"] = _new_block_id(seen)
        seen.add(block["id"])
        loaded.append(block)
    if errors:
        raise InvalidContent(errors)
    _check_assets(loaded)
    return loaded


def _new_block_id(taken: set[str]) -> str:
    while True:
        block_id = "b" + secrets.token_hex(4)
        if block_id not in taken:
            return block_id


def _check_assets(blocks: list[dict[str, Any]], theme: dict | None = None,
                  seo: dict | None = None) -> None:
    """Every asset a block names exists in the workspace and is of a kind its field takes."""
    wanted: dict[str, tuple[int, tuple[str, ...]]] = {}
    types = block_registry.block_types()
    for position, block in enumerate(blocks):
        for asset_id, kinds in block_registry.asset_kinds(types[block["type"]], block).items():
            wanted[f"blocks.{position}"] = (asset_id, kinds)
    if theme and theme.get("background_asset_id"):
        wanted["theme.background_asset_id"] = (theme["background_asset_id"], ("image", "svg"))
    if seo and seo.get("image_asset_id"):
        wanted["seo.image_asset_id"] = (seo["image_asset_id"], ("image",))
    if not wanted:
        return
    if not registry().enabled("assets"):
        raise InvalidContent({field: ["The media library is not enabled."] for field in wanted})
    from qrp_assets import services as assets

    errors = {}
    for field, (asset_id, kinds) in wanted.items():
        try:
            asset = assets.get_asset(asset_id)
        except NotFound:
            errors[field] = [f"No asset {asset_id} in this workspace's media library."]
            continue
        if asset.kind not in kinds:
            errors[field] = [f"Asset {asset_id} is a {asset.kind}; use a "
                             f"{' or '.join(kinds)}."]
    if errors:
        raise InvalidContent(errors)


def _used_assets(site: Microsite) -> set[int]:
    types = block_registry.block_types()
    found = {i for block in site.blocks or [] if block.get("type") in types
             for i in block_registry.asset_ids(types[block["type"]], block)}
    for value in ((site.theme or {}).get("background_asset_id"),
                  (site.seo or {}).get("image_asset_id")):
        if value:
            found.add(int(value))
    return found


def _record_asset_usage(site: Microsite, *, remove: bool = False) -> None:
    if not registry().enabled("assets"):
        return
    from qrp_assets import services as assets

    href = None
    try:
        from flask import url_for

        href = url_for("microsites.index") if has_request_context() else None
    except Exception:  # the builder's pages may be elsewhere
        href = None
    assets.set_usage(ASSET_CONSUMER, site.id, [] if remove else _used_assets(site),
                     label=f"Microsite: {site.name}", href=href)


def clean_name(name: Any) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise _invalid("name", "Give the microsite a name.")
    if len(name) > 200:
        raise _invalid("name", "At most 200 characters.")
    return name


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50].strip("-")
    return slug if len(slug) >= 3 else (slug + "-page").lstrip("-")


def _slug_taken(slug: str, microsite_id: int | None = None) -> bool:
    with unscoped():
        query = select(Microsite.id).where(Microsite.slug == slug)
        if microsite_id is not None:
            query = query.where(Microsite.id != microsite_id)
        return db.session.scalar(query) is not None


def check_slug(slug: Any, microsite_id: int | None = None) -> str:
    slug = str(slug or "").strip().lower()
    if not SLUG.match(slug) or "--" in slug:
        raise _invalid("slug", "3 to 64 lower-case letters, digits and single hyphens, "
                               "starting and ending with a letter or digit.")
    if slug in RESERVED_SLUGS:
        raise _invalid("slug", f"'{slug}' is reserved; choose another.")
    if _slug_taken(slug, microsite_id):
        raise Conflict(f"The address /m/{slug} is taken; choose another.", field="slug")
    return slug


def _free_slug(name: str) -> str:
    base = slugify(name)
    if base in RESERVED_SLUGS:
        base += "-page"
    slug = base
    while _slug_taken(slug):
        slug = f"{base[:55]}-{secrets.token_hex(3)}"
    return slug


def _load_seo(seo: Any) -> dict[str, Any]:
    if seo is None:
        return {}
    if not isinstance(seo, dict):
        raise InvalidContent({"seo": ["An object with title, description, image_asset_id."]})
    try:
        return publish.SeoFields().load(seo, unknown="exclude")
    except ValidationError as exc:
        raise InvalidContent({f"seo.{k}": v for k, v in exc.messages.items()}) from exc


def _load_theme(theme: Any) -> dict[str, Any]:
    try:
        return themes.check_theme(theme)
    except ValidationError as exc:
        messages = exc.messages.get("theme", exc.messages) if isinstance(exc.messages, dict) \
            else exc.messages
        if isinstance(messages, dict):
            raise InvalidContent({f"theme.{k}": v for k, v in messages.items()}) from exc
        raise InvalidContent({"theme": messages}) from exc


def _asset_origins() -> tuple[str, ...]:
    from urllib.parse import urlsplit

    origins = []
    for url in (current_app.config.get("CDN_BASE_URL"), hosts.public_base_url()):
        if url:
            parts = urlsplit(url)
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(origins)


def _load_custom_css(css: Any, current: str = "") -> str:
    css = str(css or "")
    if css and css != current and not quotas.limit(CUSTOM_CSS_QUOTA):
        quotas.check(CUSTOM_CSS_QUOTA, used=0)
    try:
        return themes.clean_custom_css(css, _asset_origins())
    except ValidationError as exc:
        raise _invalid("custom_css", " ".join(exc.messages)) from exc


def _load_domain(name: Any, current: str | None) -> str | None:
    if not name:
        return None
    name = str(name).strip().lower()
    if name == current:
        return name  # kept after a downgrade (read-only)
    usable = {d.name for d in hosts.link_domains(g.workspace.id)} if g.get("workspace") else set()
    if name not in usable:
        raise _invalid("domain", "Not a verified domain of this workspace (within its plan).")
    with unscoped():
        other = db.session.scalar(select(Microsite.id).where(Microsite.domain == name))
    if other is not None:
        raise Conflict("Another microsite is already at this domain's root.", field="domain")
    return name


# -- writing --------------------------------------------------------------------------------------

def _actor_id() -> int | None:
    user = g.get("user") if has_request_context() else None
    return user.id if user is not None else None


def event_data(site: Microsite, **extra) -> dict[str, Any]:
    return {"microsite_id": site.id, "name": site.name, "slug": site.slug,
            "status": site.status, **extra}


def create_microsite(data: dict[str, Any]) -> Microsite:
    """A new draft page. ``data``: name, blocks, theme, slug, seo, noindex, not_found_page,
    password, custom_css, domain (all but name optional)."""
    permissions.require("microsites.edit")
    quotas.check(SITES_QUOTA)
    name = clean_name(data.get("name"))
    slug = check_slug(data["slug"]) if data.get("slug") else _free_slug(name)
    site = Microsite(name=name, slug=slug, status="draft", blocks=[], theme={}, seo={},
                     noindex=False, not_found_page=False, custom_css="",
                     created_by_id=_actor_id(), changed_since_publish=True)
    _apply_content(site, data)
    _apply_live_settings(site, data)
    db.session.add(site)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(f"The address /m/{slug} is taken; choose another.", field="slug") from exc
    _snapshot(site, "draft")
    _record_asset_usage(site)
    events.publish("microsites.created", event_data(site, blocks=len(site.blocks)))
    db.session.commit()
    return site


def _apply_content(site: Microsite, data: dict[str, Any]) -> list[str]:
    """Blocks, theme, SEO and custom CSS from ``data`` (those present; ``theme_preset_id``:
    the theme and custom CSS of a workspace preset); the changed names."""
    if data.get("theme_preset_id") is not None:
        preset = _preset_named_by(data["theme_preset_id"])
        data = {**data, "theme": preset.theme, "custom_css": preset.custom_css}
    changed = []
    if "blocks" in data:
        blocks = load_blocks(data["blocks"] or [])
        if blocks != site.blocks:
            site.blocks = blocks
            changed.append("blocks")
    if "theme" in data:
        theme = _load_theme(data["theme"])
        if theme != site.theme:
            site.theme = theme
            changed.append("theme")
    if "seo" in data:
        seo = _load_seo(data["seo"])
        if seo != site.seo:
            site.seo = seo
            changed.append("seo")
    if "custom_css" in data:
        css = _load_custom_css(data["custom_css"], site.custom_css or "")
        if css != (site.custom_css or ""):
            site.custom_css = css
            changed.append("custom_css")
    if changed:
        _check_assets(site.blocks, site.theme, site.seo)
    return changed


def update_microsite(microsite_id: int, data: dict[str, Any]) -> Microsite:
    """Change the draft and the settings; a published page shows the change once published
    again (settings that are not content, such as the password or noindex, at once)."""
    permissions.require("microsites.edit")
    site = get_microsite(microsite_id)
    old_slug, old_domain = site.slug, site.domain
    changed = _apply_content(site, data)
    if "name" in data and clean_name(data["name"]) != site.name:
        site.name = clean_name(data["name"])
        changed.append("name")
    if data.get("slug") and data["slug"] != site.slug:
        site.slug = check_slug(data["slug"], site.id)
        changed.append("slug")
    live = _apply_live_settings(site, data)
    if not changed and not live:
        return site
    if changed:
        site.changed_since_publish = True
        if set(changed) & {"blocks", "theme", "seo", "custom_css", "name"}:
            _snapshot(site, "draft")
    _record_asset_usage(site)
    events.publish("microsites.updated", event_data(site, changed=changed + live))
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict("The address is taken; choose another.", field="slug") from exc
    if live or "slug" in changed:
        forget(site, old_slug, old_domain)
    if (site.slug, site.domain) != (old_slug, old_domain):
        qr_services.refresh_link_type(qrtype.NAME, qrtype.opens(site.id))
    return site


def _apply_live_settings(site: Microsite, data: dict[str, Any]) -> list[str]:
    """The settings that change the published page at once; returns which changed."""
    live = []
    if "noindex" in data and bool(data["noindex"]) != site.noindex:
        site.noindex = bool(data["noindex"])
        live.append("noindex")
    if "not_found_page" in data and bool(data["not_found_page"]) != site.not_found_page:
        if data["not_found_page"]:  # one per workspace: the page chosen before steps down
            others = update(Microsite).values(not_found_page=False)
            if site.id is not None:
                others = others.where(Microsite.id != site.id)
            db.session.execute(others)
        site.not_found_page = bool(data["not_found_page"])
        live.append("not_found_page")
    if "password" in data and data["password"] is not None:
        site.password_hash = _hash_password(data["password"]) if data["password"] else None
        live.append("password")
    if "domain" in data and (data["domain"] or None) != site.domain:
        site.domain = _load_domain(data["domain"], site.domain)
        live.append("domain")
    return live


def _hash_password(password: Any) -> str:
    password = str(password)
    if not 4 <= len(password) <= 200:
        raise _invalid("password", "Use 4 to 200 characters (or an empty one to remove it).")
    return hash_password(password)


def _snapshot(site: Microsite, kind: str, rendered: publish.Rendered | None = None
              ) -> MicrositeVersion:
    number = (db.session.scalar(select(func.max(MicrositeVersion.number))
                                .where(MicrositeVersion.microsite_id == site.id)) or 0) + 1
    version = MicrositeVersion(
        microsite_id=site.id, number=number, kind=kind, name=site.name,
        blocks=site.blocks, theme=site.theme, seo=site.seo, custom_css=site.custom_css or "",
        html=rendered.html if rendered else None, css=rendered.css if rendered else None,
        targets=rendered.targets if rendered else {}, files=rendered.files if rendered else {},
        created_by_id=_actor_id())
    db.session.add(version)
    db.session.flush()
    if kind == "draft":
        _prune_drafts(site.id)
    return version


def _prune_drafts(microsite_id: int) -> None:
    keep = select(MicrositeVersion.id).where(
        MicrositeVersion.microsite_id == microsite_id, MicrositeVersion.kind == "draft"
    ).order_by(MicrositeVersion.number.desc()).limit(DRAFT_SNAPSHOTS_KEPT)
    db.session.execute(delete(MicrositeVersion).where(
        MicrositeVersion.microsite_id == microsite_id, MicrositeVersion.kind == "draft",
        MicrositeVersion.id.not_in(keep.scalar_subquery())))


def render_site(site: Microsite, *, css_href: str | None = None,
                preview: bool = False) -> publish.Rendered:
    return publish.render(slug=site.slug, name=site.name, blocks=site.blocks or [],
                          theme=site.theme or {}, seo=site.seo or {},
                          custom_css=site.custom_css or "", noindex=site.noindex,
                          url=public_url(site), css_href=css_href, preview=preview)


def render_preview(site: Microsite, *, css_href: str | None = None) -> publish.Rendered:
    """The draft as a visitor would see it once published (the builder's preview)."""
    return render_site(site, css_href=css_href, preview=True)


def publish_microsite(microsite_id: int) -> Microsite:
    """Render the draft once, keep the render as a new published version and serve it at the
    page's URL (every process's cache forgets the old one)."""
    permissions.require("microsites.edit")
    site = get_microsite(microsite_id)
    if not site.blocks:
        raise _invalid("blocks", "Add at least one block before publishing.")
    _check_assets(site.blocks, site.theme, site.seo)
    rendered = render_site(site)
    version = _snapshot(site, "published", rendered)
    site.status = "published"
    site.published_version_id = version.id
    site.published_at = datetime.now(UTC)
    site.changed_since_publish = False
    events.publish("microsites.published", event_data(site, version=version.number,
                                                      url=public_url(site)))
    db.session.commit()
    forget(site)
    return site


def unpublish_microsite(microsite_id: int) -> Microsite:
    permissions.require("microsites.edit")
    site = get_microsite(microsite_id)
    if site.status != "published":
        return site
    site.status = "draft"
    site.published_version_id = None
    site.changed_since_publish = True
    events.publish("microsites.unpublished", event_data(site))
    db.session.commit()
    forget(site)
    return site


def restore_version(microsite_id: int, version_id: int) -> Microsite:
    """Bring an earlier version's content back into the draft (publish to show it)."""
    permissions.require("microsites.edit")
    site = get_microsite(microsite_id)
    version = db.session.scalar(select(MicrositeVersion).where(
        MicrositeVersion.id == version_id, MicrositeVersion.microsite_id == site.id))
    if version is None:
        raise NotFound("No such version of this microsite.")
    types = block_registry.block_types()
    site.blocks = [b for b in version.blocks if b.get("type") in types]
    site.theme, site.seo = version.theme, version.seo
    site.custom_css = version.custom_css
    site.name = version.name
    site.changed_since_publish = True
    _check_assets(site.blocks, site.theme, site.seo)
    _snapshot(site, "draft")
    _record_asset_usage(site)
    events.publish("microsites.updated", event_data(site, changed=["restored"],
                                                    restored_version=version.number))
    db.session.commit()
    return site


def delete_microsite(microsite_id: int) -> None:
    permissions.require("microsites.edit")
    site = get_microsite(microsite_id)
    codes = [code for code in qr_services.codes_of_link_type(qrtype.NAME, qrtype.opens(site.id))
             if not code.archived]
    if codes:
        names = ", ".join(f"“{code.name}”" for code in codes[:3])
        more = f" and {len(codes) - 3} more" if len(codes) > 3 else ""
        raise Conflict(f"QR codes open this page ({names}{more}): point them elsewhere or "
                       "archive them first, or printed codes would lead nowhere.")
    slug, domain = site.slug, site.domain
    _record_asset_usage(site, remove=True)
    events.publish("microsites.deleted", event_data(site))
    site.published_version_id = None
    db.session.flush()
    db.session.delete(site)
    db.session.commit()
    _forget({slug}, {domain})


# -- theme presets --------------------------------------------------------------------------------

PRESET_NAME_MAX = 80


def list_theme_presets() -> list[ThemePreset]:
    return list(db.session.scalars(select(ThemePreset).order_by(ThemePreset.name)))


def get_theme_preset(preset_id: int) -> ThemePreset:
    return get_or_404(ThemePreset, preset_id, "No such theme preset in this workspace.")


def _preset_named_by(preset_id: Any) -> ThemePreset:
    """The preset a page is asked to take, or a refusal naming the field."""
    try:
        return get_theme_preset(int(preset_id))
    except (NotFound, TypeError, ValueError) as exc:
        raise _invalid("theme_preset_id", "No such theme preset in this workspace.") from exc


def _preset_name(name: Any) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise _invalid("name", "Give the preset a name.")
    if len(name) > PRESET_NAME_MAX:
        raise _invalid("name", f"At most {PRESET_NAME_MAX} characters.")
    return name


def _save_preset(preset: ThemePreset) -> ThemePreset:
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(f"A preset called “{preset.name}” exists; choose another name.",
                       field="name") from exc
    return preset


def create_theme_preset(data: dict[str, Any]) -> ThemePreset:
    """A named look for the workspace: ``theme`` and ``custom_css`` as given, or those of the
    page ``microsite_id`` (the builder's "Save as preset")."""
    permissions.require("microsites.edit")
    name = _preset_name(data.get("name"))
    if data.get("microsite_id") is not None:
        site = get_microsite(int(data["microsite_id"]))
        theme, css = dict(site.theme or {}), site.custom_css or ""
    else:
        theme = _load_theme(data.get("theme") or {})
        css = _load_custom_css(data.get("custom_css"))
        _check_assets([], theme)
    preset = ThemePreset(name=name, theme=theme, custom_css=css, created_by_id=_actor_id())
    db.session.add(preset)
    return _save_preset(preset)


def rename_theme_preset(preset_id: int, name: Any) -> ThemePreset:
    permissions.require("microsites.edit")
    preset = get_theme_preset(preset_id)
    preset.name = _preset_name(name)
    return _save_preset(preset)


def delete_theme_preset(preset_id: int) -> None:
    """Pages that took the preset keep their look (a preset is copied, not linked)."""
    permissions.require("microsites.edit")
    db.session.delete(get_theme_preset(preset_id))
    db.session.commit()


def forget(site: Microsite, old_slug: str | None = None, old_domain: str | None = None
           ) -> None:
    """Drop the page from every process's cache (after the commit): by slug, and the custom
    domain whose root shows it."""
    _forget({site.slug, old_slug}, {site.domain, old_domain})


def _forget(slugs: set[str | None], domains: set[str | None]) -> None:
    for slug in slugs - {None}:
        pagecache.pages(current_app).invalidate(slug)
    for domain in domains - {None}:
        pagecache.domains(current_app).invalidate(domain)


# -- what the public routes serve -----------------------------------------------------------------

def published_entry(slug: str) -> dict[str, Any] | None:
    """The cache's loader: a published page's entry by slug (across workspaces)."""
    with unscoped():
        site = db.session.scalar(select(Microsite).where(Microsite.slug == slug,
                                                         Microsite.status == "published"))
        if site is None or site.published_version_id is None:
            return None
        version = db.session.get(MicrositeVersion, site.published_version_id)
        return publish.entry(site, version) if version is not None else None


def domain_slug(domain: str) -> str | None:
    """The slug of the published page at a custom domain's root, if any."""
    with unscoped():
        return db.session.scalar(select(Microsite.slug).where(
            Microsite.domain == domain, Microsite.status == "published"))


def workspace_of_slug(slug: str) -> tuple[int, str] | None:
    """Whose page a (not published) slug was, (id, name): for the workspace's "not found"."""
    from qrplatform.auth.models import Workspace

    with unscoped():
        found = db.session.execute(select(Workspace.id, Workspace.name).join(
            Microsite, Microsite.workspace_id == Workspace.id).where(Microsite.slug == slug)
        ).first()
    return tuple(found) if found else None


def not_found_entry(workspace_id: int) -> dict[str, Any] | None:
    """The published page a workspace chose as its "not found" page (none behind a
    password: a visitor must not see it without one)."""
    with unscoped():
        site = db.session.scalar(select(Microsite).where(
            Microsite.workspace_id == workspace_id, Microsite.not_found_page.is_(True),
            Microsite.status == "published", Microsite.password_hash.is_(None)))
        version = db.session.get(MicrositeVersion, site.published_version_id) \
            if site is not None and site.published_version_id else None
        return publish.entry(site, version) if version is not None else None


def check_page_password(entry: dict[str, Any], password: str) -> bool:
    return password_matches(entry.get("password_hash"), password)


# -- leads ----------------------------------------------------------------------------------------

def submit_lead(entry: dict[str, Any], block_id: str, form: dict[str, str]) -> str:
    """A visitor's contact form, checked against the form as published; returns the form's
    thank-you message."""
    with tenant_scope(entry["workspace_id"]):
        site = db.session.get(Microsite, entry["id"])
        version = db.session.get(MicrositeVersion, site.published_version_id) \
            if site is not None and site.published_version_id else None
        block = next((b for b in (version.blocks if version else [])
                      if b.get("id") == block_id and b.get("type") == "lead_form"
                      and not b.get("hidden")), None)
        if block is None:
            raise NotFound("This form is no longer on the page.")
        data, errors = {}, {}
        for item in block["fields"]:
            value = " ".join(str(form.get(item["name"], "")).split()) \
                if item["name"] != "message" else str(form.get(item["name"], "")).strip()
            value = value.replace("\x00", "")
            if len(value) > LEAD_VALUE_MAX:
                errors[item["name"]] = [f"At most {LEAD_VALUE_MAX} characters."]
            elif item.get("required") and not value:
                errors[item["name"]] = [f"Fill in {item['label']}."]
            elif item["name"] == "email" and value and not re.match(r"^[^@\s]+@[^@\s]+\.\w+$",
                                                                    value):
                errors[item["name"]] = ["Enter an e-mail address."]
            data[item["name"]] = value
        if errors:
            raise InvalidContent(errors, "Check the highlighted fields.")
        lead = Lead(microsite_id=site.id, block_id=block_id, data=data)
        db.session.add(lead)
        db.session.flush()
        events.publish("microsites.lead_received",
                       {"microsite_id": site.id, "lead_id": lead.id, "block_id": block_id},
                       workspace_id=site.workspace_id, actor={"type": "anonymous"})
        db.session.commit()
        return block.get("success") or "Thank you!"


def list_leads(microsite_id: int, *, page: int = 1, per_page: int = 50
               ) -> tuple[list[Lead], int]:
    permissions.require("microsites.leads")
    get_microsite(microsite_id)
    query = select(Lead).where(Lead.microsite_id == microsite_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.order_by(Lead.created_at.desc(), Lead.id.desc())
                              .limit(per_page).offset((max(1, page) - 1) * per_page))
    return list(rows), total


def leads_csv(microsite_id: int) -> str:
    """Every lead of a page as CSV (cells a spreadsheet would run are made inert)."""
    permissions.require("microsites.leads")
    get_microsite(microsite_id)
    leads = list(db.session.scalars(select(Lead).where(Lead.microsite_id == microsite_id)
                                    .order_by(Lead.created_at, Lead.id)))
    columns = [name for name in block_registry.LEAD_FIELDS
               if any(name in lead.data for lead in leads)]
    out = io.StringIO()
    writer = csvfiles.writer(out)
    writer.writerow(["id", "received_at", "form", *columns])
    for lead in leads:
        writer.writerow([lead.id, lead.created_at.isoformat(), lead.block_id,
                         *[lead.data.get(c, "") for c in columns]])
    return out.getvalue()
