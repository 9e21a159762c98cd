"""What the qr plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from pathlib import Path

from qrp_qr import api, jobs, models, redirect, views
from qrplatform.plugins import NavItem, Permission, Plugin

ALL_ROLES = ("owner", "admin", "editor", "viewer", "billing")


def setup(app) -> None:
    """The short links live at SHORT_LINK_BASE_URL's path, known only once the app is set up."""
    redirect.init_app(app)


plugin = Plugin(
    name="qr",
    title="QR codes",
    description="Static and dynamic QR codes, their designs and images, the scan redirect, "
                "bulk generation.",
    blueprints=[views.bp],
    api_blueprints=[api.blp, api.templates_blp],
    models=[models.QRCode, models.QRTag, models.QRDesignTemplate],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    nav=[NavItem("QR codes", "qr.index", order=10, permission="qr.view")],
    events={
        "qr.created": "a QR code was created (data: code_id, name, kind, type, short_code; "
                      "duplicate_of or bulk when it came from one)",
        "qr.updated": "a QR code changed (data: code_id, name, kind, type, short_code, "
                      "changed: the names of the changed fields)",
        "qr.archived": "a QR code was archived; its short link stops redirecting "
                       "(data: code_id, name, kind, type, short_code)",
        "qr.scanned": "a dynamic code's short link was visited (stream qrp.scans; data: "
                      "code_id, short_code, method GET|HEAD, user_agent, referrer, country "
                      "(ISO alpha-2 or null), language, ip_hash, visitor_hash, classification "
                      "human|bot|preview|head, reason, outcome redirected|password_required|"
                      "expired|paused|archived|cap_reached); occurred_at is the scan time",
    },
    streams={"qr.scanned": "qrp.scans"},
    jobs=[jobs.bulk_create],
    # Live (not archived) dynamic codes per plan; static codes are free and unlimited.
    quotas={"qr.dynamic_codes": {"free": 25, "pro": 1000, "business": None}},
    settings={
        "QR_REDIRECT_FAST_PATH": True,  # answer plain redirects before the Flask pipeline
        "QR_BULK_PROCESSES": 0,  # processes drawing bulk images; 0 means one per CPU
    },
    wsgi_middleware=[redirect.short_link_middleware],
    permissions=[
        Permission("qr.view", "See QR codes, their designs and images", ALL_ROLES),
        Permission("qr.edit", "Create, change, archive and bulk-create QR codes"),
    ],
    setup=setup,
)
