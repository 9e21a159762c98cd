"""What the microsites plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from pathlib import Path

from qrp_microsites import api, blocks, models, qrtype, services, serving, stats, views
from qrp_qr import linktypes
from qrplatform import signals
from qrplatform.extensions import csrf
from qrplatform.gateway import client_ip
from qrplatform.plugins import (
    ExtensionPoint,
    Highlight,
    NavItem,
    Permission,
    Plugin,
    Quota,
    RateLimit,
)

ALL_ROLES = ("owner", "admin", "editor", "viewer", "billing")


def setup(app) -> None:
    serving.init_app(app)
    # Visitors' posts (a page's password, a contact form) come from static pages that carry
    # no session; the honeypot and the rate limits guard them.
    csrf.exempt(serving.bp)


plugin = Plugin(
    name="microsites",
    title="Microsites",
    description="Block-built mobile landing pages behind QR codes: rendered once when "
                "published, served from the cache with a strict CSP.",
    requires=["qr"],
    blueprints=[views.bp, serving.bp],
    api_blueprints=[api.blp],
    models=[models.Microsite, models.MicrositeVersion, models.Lead, models.Hit,
            models.ThemePreset],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    nav=[NavItem("Microsites", "microsites.index", order=15, permission="microsites.view",
                 icon="layout-template")],
    highlights=[Highlight("Mobile pages behind your codes",
                          "Links, contact cards, menus, Wi-Fi and forms on a fast page you "
                          "build from blocks.", icon="layout-template", order=70)],
    extension_points={blocks.EXTENSION_POINT: ExtensionPoint(
        blocks.Block, "block types a microsite can use (qrp_microsites.blocks.Block)",
        check=blocks.check_block_type)},
    contributions={blocks.EXTENSION_POINT: blocks.BUILTIN_BLOCKS,
                   linktypes.EXTENSION_POINT: [qrtype.LINK_TYPE]},
    events={
        "microsites.created": "a microsite was created as a draft (data: microsite_id, name, "
                              "slug, status, blocks: how many)",
        "microsites.updated": "a microsite's draft or settings changed (data: microsite_id, "
                              "name, slug, status, changed: the names of what changed; "
                              "restored_version when a version was restored)",
        "microsites.published": "a microsite was published (data: microsite_id, name, slug, "
                                "status, version, url)",
        "microsites.unpublished": "a microsite was taken down (data: microsite_id, name, slug, "
                                  "status)",
        "microsites.deleted": "a microsite was deleted (data: microsite_id, name, slug, status)",
        "microsites.lead_received": "a visitor sent a page's contact form (data: microsite_id, "
                                    "lead_id, block_id; what they typed stays in the app)",
        "microsites.viewed": "a published page was opened (stream qrp.microsites; data: "
                             "microsite_id, slug, version, method, user_agent, referrer, "
                             "visitor_hash, classification human|bot|preview|head, reason)",
        "microsites.clicked": "a visitor followed a link of a page's block (stream "
                              "qrp.microsites; the view's data plus block_id and target: the "
                              "link's key)",
    },
    streams={"microsites.viewed": "qrp.microsites", "microsites.clicked": "qrp.microsites"},
    # Views and clicks stored once per event id, counted for GET .../{id}/analytics.
    batch_receivers={"microsites.viewed": stats.ingest, "microsites.clicked": stats.ingest},
    permissions=[
        Permission("microsites.view", "See microsites and their versions", ALL_ROLES),
        Permission("microsites.edit", "Create, change, publish and delete microsites"),
        Permission("microsites.leads", "Read and export what visitors sent through forms",
                   ("owner", "admin", "editor")),
    ],
    quotas={
        services.SITES_QUOTA: Quota({"free": 3, "pro": 50, "business": None}, "microsites",
                                    usage=services.site_count),
        # A feature, not a stock: 1 allows custom CSS.
        services.CUSTOM_CSS_QUOTA: Quota({"free": 0, "pro": 0, "business": 1},
                                         "custom stylesheets", unit="switch"),
    },
    rate_limits={
        "microsites_public.page": RateLimit("10 per minute", methods=("POST",), key=client_ip,
                                            failures_only=True),
        "microsites_public.lead": RateLimit("5 per minute", key=client_ip),
        "microsites_public.stylesheet": RateLimit.exempt(),
        "microsites_public.go": RateLimit.exempt(),
        "microsites_public.block_file": RateLimit.exempt(),
    },
    settings={
        # Rendered pages each process keeps in memory (in front of Redis).
        "MICROSITES_CACHED_PAGES": 2000,
    },
    wsgi_middleware=[serving.page_middleware],
    signal_receivers={signals.custom_domain_root: serving.domain_root,
                      signals.workspace_page_missing: serving.workspace_not_found},
    setup=setup,
)
