"""/api/v1/microsites: build, publish and read microsites from the mobile app and integrations."""

from __future__ import annotations

from qrp_microsites import blocks as block_registry
from qrp_microsites import services, starters, stats, themes
from qrp_microsites.schemas import (
    AnalyticsArgs,
    AnalyticsSchema,
    BlockTypeSchema,
    LeadListArgs,
    LeadPageSchema,
    MicrositeCreateSchema,
    MicrositeListArgs,
    MicrositePageSchema,
    MicrositePatchSchema,
    MicrositeSchema,
    StarterSchema,
    ThemePresetCreateSchema,
    ThemePresetListSchema,
    ThemePresetPatchSchema,
    ThemePresetSchema,
    ThemesSchema,
    VersionSchema,
)
from qrplatform import csvfiles
from qrplatform.api import api_blueprint
from qrplatform.permissions import permission_required

blp = api_blueprint("microsites_api", __name__, "/api/v1/microsites",
                    "Microsites: block-built mobile pages behind QR codes, published as static "
                    "pages")


def microsite_view(site) -> dict:
    version = site.published_version
    return {
        "id": site.id, "name": site.name, "slug": site.slug, "status": site.status,
        "url": services.public_url(site), "blocks": site.blocks or [],
        "theme": site.theme or {}, "seo": site.seo or {}, "noindex": site.noindex,
        "not_found_page": site.not_found_page,
        "password_protected": site.password_protected, "custom_css": site.custom_css or "",
        "domain": site.domain,
        "has_unpublished_changes": site.status == "published" and site.changed_since_publish,
        "published_version": version.number if version is not None else None,
        "published_at": site.published_at, "created_at": site.created_at,
        "updated_at": site.updated_at,
    }


def version_view(version, live_id) -> dict:
    author = version.created_by
    return {"id": version.id, "number": version.number, "kind": version.kind,
            "name": version.name, "blocks": version.blocks, "theme": version.theme,
            "created_by": author.name if author is not None else None,
            "created_at": version.created_at, "live": version.id == live_id}


def lead_view(lead) -> dict:
    return {"id": lead.id, "microsite_id": lead.microsite_id, "block_id": lead.block_id,
            "data": lead.data, "created_at": lead.created_at}


@blp.get("")
@blp.arguments(MicrositeListArgs, location="query")
@blp.response(200, MicrositePageSchema)
@permission_required("microsites.view")
def list_microsites(args):
    """The workspace's microsites, newest first; search names and slugs, filter by status."""
    items, total = services.list_microsites(q=args["q"], status=args.get("status"),
                                            page=args["page"], per_page=args["per_page"])
    return {"items": [microsite_view(s) for s in items], "total": total, "page": args["page"],
            "per_page": args["per_page"]}


@blp.post("")
@permission_required("microsites.edit")
@blp.arguments(MicrositeCreateSchema)
@blp.response(201, MicrositeSchema)
def create_microsite(data):
    """A new draft page. Each block is checked by its type; errors name the field
    (``blocks.2.url``). Over the plan's number of microsites: 402."""
    return microsite_view(services.create_microsite(data))


@blp.get("/block-types")
@blp.response(200, BlockTypeSchema(many=True))
@permission_required("microsites.view")
def block_types():
    """The block types a page can use (the built-in ones and those plugins add), with their
    fields as JSON Schema."""
    return [block_registry.describe(b) for b in block_registry.block_types().values()]


def preset_view(preset) -> dict:
    return {"id": preset.id, "name": preset.name, "theme": preset.theme or {},
            "custom_css": preset.custom_css or "", "created_at": preset.created_at}


@blp.get("/theme-presets")
@blp.response(200, ThemePresetListSchema)
@permission_required("microsites.view")
def list_theme_presets():
    """The workspace's saved looks, by name; a page takes one with ``theme_preset_id``."""
    return {"items": [preset_view(p) for p in services.list_theme_presets()]}


@blp.post("/theme-presets")
@permission_required("microsites.edit")
@blp.arguments(ThemePresetCreateSchema)
@blp.response(201, ThemePresetSchema)
def create_theme_preset(data):
    """Save a look under a name for the whole workspace: ``theme`` and ``custom_css``, or the
    look of the page ``microsite_id``. A name is used once per workspace (409)."""
    return preset_view(services.create_theme_preset(data))


@blp.get("/theme-presets/<int:preset_id>")
@blp.response(200, ThemePresetSchema)
@permission_required("microsites.view")
def get_theme_preset(preset_id):
    return preset_view(services.get_theme_preset(preset_id))


@blp.patch("/theme-presets/<int:preset_id>")
@permission_required("microsites.edit")
@blp.arguments(ThemePresetPatchSchema)
@blp.response(200, ThemePresetSchema)
def rename_theme_preset(data, preset_id):
    return preset_view(services.rename_theme_preset(preset_id, data["name"]))


@blp.delete("/theme-presets/<int:preset_id>")
@permission_required("microsites.edit")
@blp.response(204)
def delete_theme_preset(preset_id):
    """Pages that took the preset keep their look."""
    services.delete_theme_preset(preset_id)


@blp.get("/themes")
@blp.response(200, ThemesSchema)
@permission_required("microsites.view")
def list_themes():
    """The built-in themes, fonts and button shapes."""
    return themes.describe()


@blp.get("/starters")
@blp.response(200, StarterSchema(many=True))
@permission_required("microsites.view")
def list_starters():
    """Pages to start from (the builder's templates: link in bio, restaurant menu, business
    card, event, product, app download): POST a starter's ``blocks`` and ``theme`` with a
    name to /api/v1/microsites, as the builder does."""
    return [{"key": s.key, "label": s.label, "description": s.description, "icon": s.icon,
             **s.content()} for s in starters.STARTERS.values()]


@blp.get("/<int:microsite_id>")
@blp.response(200, MicrositeSchema)
@permission_required("microsites.view")
def get_microsite(microsite_id):
    return microsite_view(services.get_microsite(microsite_id))


@blp.patch("/<int:microsite_id>")
@permission_required("microsites.edit")
@blp.arguments(MicrositePatchSchema)
@blp.response(200, MicrositeSchema)
def update_microsite(data, microsite_id):
    """Change the draft (blocks, theme, SEO, CSS: shown once published again) or the
    settings (name, slug, password, noindex, not_found_page, domain)."""
    return microsite_view(services.update_microsite(microsite_id, data))


@blp.delete("/<int:microsite_id>")
@permission_required("microsites.edit")
@blp.response(204)
def delete_microsite(microsite_id):
    """Delete the page, its versions and leads; its URL stops answering at once."""
    services.delete_microsite(microsite_id)


@blp.post("/<int:microsite_id>/publish")
@permission_required("microsites.edit")
@blp.response(200, MicrositeSchema)
def publish_microsite(microsite_id):
    """Render the draft once and serve it at ``url`` (a new published version)."""
    return microsite_view(services.publish_microsite(microsite_id))


@blp.post("/<int:microsite_id>/unpublish")
@permission_required("microsites.edit")
@blp.response(200, MicrositeSchema)
def unpublish_microsite(microsite_id):
    """Take the page down (its URL answers "not found"); the draft stays."""
    return microsite_view(services.unpublish_microsite(microsite_id))


@blp.get("/<int:microsite_id>/versions")
@blp.response(200, VersionSchema(many=True))
@permission_required("microsites.view")
def list_versions(microsite_id):
    """History, newest first: drafts as saved (the last few) and every publication."""
    site = services.get_microsite(microsite_id)
    return [version_view(v, site.published_version_id)
            for v in services.list_versions(microsite_id)]


@blp.post("/<int:microsite_id>/versions/<int:version_id>/restore")
@permission_required("microsites.edit")
@blp.response(200, MicrositeSchema)
def restore_version(microsite_id, version_id):
    """Bring a version's content back into the draft; publish to show it."""
    return microsite_view(services.restore_version(microsite_id, version_id))


@blp.get("/<int:microsite_id>/leads")
@blp.arguments(LeadListArgs, location="query")
@blp.response(200, LeadPageSchema)
@permission_required("microsites.leads")
def list_leads(args, microsite_id):
    """What visitors sent through the page's contact forms, newest first."""
    items, total = services.list_leads(microsite_id, page=args["page"],
                                       per_page=args["per_page"])
    return {"items": [lead_view(lead) for lead in items], "total": total,
            "page": args["page"], "per_page": args["per_page"]}


@blp.get("/<int:microsite_id>/leads/export")
@blp.response(200, {"type": "string"}, content_type="text/csv")
@permission_required("microsites.leads")
def export_leads(microsite_id):
    """Every lead as CSV (formula-like cells made inert)."""
    body = services.leads_csv(microsite_id)
    return csvfiles.download(body, f"microsite-{microsite_id}-leads.csv")


@blp.get("/<int:microsite_id>/analytics")
@blp.arguments(AnalyticsArgs, location="query")
@blp.response(200, AnalyticsSchema)
@permission_required("microsites.view")
def analytics(args, microsite_id):
    """Views, unique visitors, clicks per block and click-through rate of the page, people
    apart from bots, link previews and HEAD requests (from the stream: recorded without a
    database write on the visitor's request)."""
    services.get_microsite(microsite_id)
    return stats.summary(microsite_id, args["days"])
