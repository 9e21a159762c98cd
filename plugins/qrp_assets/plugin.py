"""What the assets plugin brings to the platform (see qrplatform.plugins.Plugin)."""

from pathlib import Path

from qrp_assets import api, jobs, models, services, views
from qrplatform.plugins import Highlight, NavItem, Permission, Plugin, Quota, Schedule

ALL_ROLES = ("owner", "admin", "editor", "viewer", "billing")
MB = 1_000_000

plugin = Plugin(
    name="assets",
    title="Assets",
    description="The workspace's media library (images, SVG, PDF) on S3/R2 behind the CDN, "
                "cleaned on upload so that no file can harm who views it.",
    blueprints=[views.bp],
    api_blueprints=[api.blp],
    highlights=[Highlight("A media library",
                          "Logos and files in one place, cleaned on upload, served fast.",
                          icon="images", order=90)],
    models=[models.Asset, models.AssetTag, models.AssetUsage, models.AssetUpload],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    nav=[NavItem("Assets", "assets.index", order=30, permission="assets.view", icon="images")],
    events={
        "assets.uploaded": "a file was added to the library (data: asset_id, name, kind, "
                           "content_type, bytes)",
        "assets.replaced": "an asset got a new file and kept its id (data: asset_id, name, "
                           "kind, content_type, bytes, version, previous_bytes)",
        "assets.updated": "an asset was renamed or re-tagged (data: asset_id, name, kind, "
                          "content_type, bytes, changed)",
        "assets.deleted": "an asset and its files were deleted (data: asset_id, name, kind, "
                          "content_type, bytes)",
    },
    jobs=[jobs.make_thumbnails, jobs.purge_expired_uploads],
    schedules=[Schedule(jobs.purge_expired_uploads, every_seconds=3600)],
    quotas={
        services.STORAGE_QUOTA: Quota({"free": 100 * MB, "pro": 5_000 * MB,
                                       "business": 50_000 * MB, "enterprise": None},
                                      "storage in the media library",
                                      usage=services.used_bytes, unit="bytes"),
        services.FILES_QUOTA: Quota({"free": 100, "pro": 5_000, "business": None},
                                    "files in the media library", usage=services.file_count),
    },
    settings={
        # Per file, whatever the route; multipart bodies stop at 64 MiB (api.MULTIPART_CAP).
        "ASSETS_MAX_FILE_BYTES": 32 * MB,
        # Width x height (x frames) accepted before anything is decoded.
        "ASSETS_MAX_PIXELS": 50_000_000,
        "ASSETS_MAX_SVG_BYTES": 2 * MB,
        "ASSETS_MAX_PDF_PAGES": 300,
        "ASSETS_MAX_FRAMES": 300,
        # Widths of the WebP thumbnails, comma-separated.
        "ASSETS_THUMBNAIL_SIZES": "128,256,512,1024",
        "ASSETS_UPLOAD_EXPIRES_SECONDS": 3600,
    },
    permissions=[
        Permission("assets.view", "See the media library", ALL_ROLES),
        Permission("assets.edit", "Upload, rename, tag, replace and delete files"),
    ],
    slots={"qr.logo_sources": "assets/_logo_source.html"},
)
