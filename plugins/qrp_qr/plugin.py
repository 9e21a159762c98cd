"""What the qr plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from pathlib import Path

from qrp_qr import api, jobs, linkcheck, linktypes, models, redirect, services, views
from qrp_qr.cli import qr_cli
from qrplatform.plugins import (
    ExtensionPoint,
    Highlight,
    Metric,
    NavItem,
    OnboardingStep,
    Permission,
    Plugin,
    ProductEvent,
    Quota,
    Schedule,
)

ALL_ROLES = ("owner", "admin", "editor", "viewer", "billing")


def setup(app) -> None:
    """The short links live at SHORT_LINK_BASE_URL's path, known only once the app is set up.
    Unset, it follows the platform's address (``services.link_base``); the value kept here
    (under the address the app starts with) gives the path and the platform's hosts."""
    if not app.config.get("SHORT_LINK_BASE_URL"):
        app.config["QR_SHORT_LINK_BASE_DERIVED"] = True
        app.config["SHORT_LINK_BASE_URL"] = (app.config["PUBLIC_BASE_URL"].rstrip("/")
                                             + app.config["QR_SHORT_LINK_PATH"])
    redirect.init_app(app)
    # For the home.cards slot (qr/_home_codes.html): computed only where it renders.
    app.context_processor(lambda: {"qr_recent_codes": services.recent_codes,
                                   "qr_newest_code": services.newest_code})


def _created_properties(event) -> dict:
    data = event.data
    return {"kind": data.get("kind"), "type": data.get("type"),
            "bulk": bool(data.get("batch")), "duplicate": bool(data.get("duplicate_of"))}


def _scan_counters(event) -> tuple[str, ...]:
    classification = event.data.get("classification")
    return ("all", classification) if classification in ("human", "bot") else ("all",)


def _scan_summary(counts, codes: int) -> dict:
    return {"scan_count": counts.get("all", 0), "human_scans": counts.get("human", 0),
            "bot_scans": counts.get("bot", 0), "codes": codes}


plugin = Plugin(
    name="qr",
    title="QR codes",
    description="Static and dynamic QR codes, their designs and images, the scan redirect, "
                "bulk generation.",
    blueprints=[views.bp],
    api_blueprints=[api.blp, api.folders_blp, api.templates_blp],
    models=[models.QRCode, models.QRTag, models.QRDesignTemplate, models.QRFolder,
            models.QRSlugAlias],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    extension_points={linktypes.EXTENSION_POINT: ExtensionPoint(
        linktypes.LinkType, "dynamic code types whose link opens what another plugin owns "
        "(qrp_qr.linktypes.LinkType; microsites: microsite)", check=linktypes.check_link_type)},
    nav=[NavItem("QR codes", "qr.index", order=10, permission="qr.view", icon="qr-code"),
         NavItem("New QR code", "qr.new", order=10, permission="qr.edit", menu="create",
                 icon="plus")],
    highlights=[
        Highlight("Every code verified before it ships",
                  "Each design is read back by a real decoder before it is saved, so a code "
                  "that would not scan never reaches print.", icon="scan-line", order=10),
        Highlight("Change a code after it is printed",
                  "Dynamic codes go through a short link you can point elsewhere, pause, "
                  "protect with a password or let expire.", icon="qr-code", order=50),
        Highlight("Hundreds at once",
                  "Upload a spreadsheet and get a code for every row, with their images "
                  "in one download.", icon="file-spreadsheet", order=60),
    ],
    events={
        "qr.created": "a QR code was created (data: code_id, name, kind, type, short_code; "
                      "duplicate_of, or batch: the upload id when a bulk upload made it)",
        "qr.bulk_created": "QR codes were created from a CSV file (data: batch_id: the upload "
                           "id its codes' qr.created events carry as batch, count, skipped, "
                           "name: a line saying so)",
        "qr.bulk_changed": "many QR codes were changed at once (data: batch_id: the id their "
                           "qr.updated or qr.archived events carry as batch, action tag|untag|"
                           "move|archive|restore, count, tag or folder, name: a line saying "
                           "so)",
        "qr.folder_created": "a folder of QR codes was created (data: folder_id, name)",
        "qr.folder_renamed": "a folder of QR codes was renamed (data: folder_id, name, "
                             "previous_name)",
        "qr.folder_deleted": "a folder of QR codes was deleted; its codes stay, in no folder "
                             "(data: folder_id, name, codes)",
        "qr.updated": "a QR code changed (data: code_id, name, kind, type, short_code, "
                      "changed: the names of the changed fields)",
        "qr.archived": "a QR code was archived; its short link stops redirecting "
                       "(data: code_id, name, kind, type, short_code)",
        "qr.scanned": "a dynamic code's short link was visited (stream qrp.scans; data: "
                      "code_id, short_code, method GET|HEAD, user_agent, referrer, country "
                      "(ISO alpha-2 or null), language, ip_hash, visitor_hash, classification "
                      "human|bot|preview|head, reason, outcome redirected|password_required|"
                      "expired|paused|archived|cap_reached, rule and variant: the id of the "
                      "redirect rule or A/B variant that chose the destination, or null); "
                      "occurred_at is the scan time",
    },
    streams={"qr.scanned": "qrp.scans"},
    # A logo from the media library got a new file (only sent when assets is enabled).
    receivers={"assets.replaced": services.redraw_logo_users,
               # A new time zone changes what the cached time-of-day rules mean.
               "workspace.updated": services.forget_workspace_links},
    jobs=[jobs.bulk_create, jobs.zip_codes, jobs.check_destinations],
    schedules=[Schedule(jobs.check_destinations, every_seconds=linkcheck.CHECK_EVERY_SECONDS)],
    commands=[qr_cli],
    # Live (not archived) codes per plan; archiving frees a place, and an archived code can
    # always be exported or restored.
    quotas={
        services.CODES_QUOTA: Quota(
            {"free": 1000, "pro": 10_000, "business": None}, "QR codes (static and dynamic)",
            usage=services.live_codes),
        services.DYNAMIC_CODES_QUOTA: Quota(
            {"free": 25, "pro": 1000, "business": None}, "active dynamic QR codes",
            usage=services.live_dynamic_codes),
    },
    settings={
        "QR_REDIRECT_FAST_PATH": True,  # answer plain redirects before the Flask pipeline
        # The share of fast-path redirects written to the log (each one is counted in
        # qrp_scans_total): 0 none, 1 all. nginx logs every request already.
        "QR_REDIRECT_LOG_SAMPLE": 0.01,
        "QR_BULK_PROCESSES": 0,  # processes drawing bulk images; 0 means one per CPU
        # Where short links live under PUBLIC_BASE_URL when SHORT_LINK_BASE_URL is unset.
        "QR_SHORT_LINK_PATH": "/r",
        # The broken-destination check (qrp_qr.linkcheck): seconds a destination may take to
        # answer, seconds between two requests to one host, hosts asked at once, codes per run.
        "QR_LINK_CHECK_TIMEOUT": 10.0,
        "QR_LINK_CHECK_DELAY": 2.0,
        "QR_LINK_CHECK_HOSTS": 4,
        "QR_LINK_CHECK_BATCH": 500,
    },
    wsgi_middleware=[redirect.short_link_middleware],
    permissions=[
        Permission("qr.view", "See QR codes, their designs and images", ALL_ROLES),
        Permission("qr.edit", "Create, change, archive and bulk-create QR codes"),
    ],
    metrics=[Metric(redirect.SCANS_METRIC, "Visits of a dynamic code's short link",
                    ("outcome", "classification"))],
    product_events={
        "qr.created": ProductEvent("QR Code Created", properties=_created_properties),
        # Scans are many: one Mixpanel event per workspace per QRP_MIXPANEL_SCAN_WINDOW.
        "qr.scanned": ProductEvent("QR Code Scanned", count=_scan_counters,
                                   distinct=lambda event: event.data.get("code_id"),
                                   summary=_scan_summary),
    },
    slots={"home.cards": "qr/_home_codes.html"},
    onboarding=[
        OnboardingStep("qr.first_code", "Create your first QR code",
                       "A link, a Wi-Fi network, a contact card: it is checked with a real "
                       "scanner before it is saved.", endpoint="qr.new", action="Create a code",
                       done=services.has_codes, permission="qr.edit", order=10),
        # A download leaves no row behind: qr.download marks it (onboarding.mark_done).
        OnboardingStep("qr.download", "Download it",
                       "PNG for screens and documents, SVG or PDF for print.",
                       endpoint="qr.index", action="Your codes", permission="qr.view",
                       order=20, panel="qr/_onboarding_download.html", live=True),
    ],
    setup=setup,
)
