"""/api/v1/assets: the media library for the mobile app and integrations."""

from __future__ import annotations

from flask import url_for

from qrp_assets import services
from qrp_assets.schemas import (
    AssetListArgs,
    AssetPageSchema,
    AssetPatchSchema,
    AssetReplaceSchema,
    AssetSchema,
    AssetUploadSchema,
    ConfirmSchema,
    PresignedUploadSchema,
    PresignRequestSchema,
)
from qrplatform.api import api_blueprint
from qrplatform.inputs import UPLOAD_OVERHEAD, max_body
from qrplatform.permissions import permission_required

blp = api_blueprint("assets_api", __name__, "/api/v1/assets",
                    "The workspace's media library: images, SVG and PDF, cleaned on upload and "
                    "served from the CDN")

# The largest body a multipart upload may send; ASSETS_MAX_FILE_BYTES (at most this) is the
# real limit. Larger files go through a presigned upload.
MULTIPART_CAP = 64 * 1024 * 1024 + UPLOAD_OVERHEAD


def asset_view(asset, used_by=None) -> dict:
    """The API resource of an asset (``used_by`` looked up unless given)."""
    users = services.used_by(asset) if used_by is None else used_by
    uploader = asset.uploaded_by
    return {
        "id": asset.id, "name": asset.name, "kind": asset.kind, "format": asset.format,
        "content_type": asset.content_type, "bytes": asset.bytes, "width": asset.width,
        "height": asset.height, "pages": asset.pages, "frames": asset.frames,
        "url": services.url(asset),
        "thumbnails": services.thumbnail_urls(asset),
        "thumbnail_job_id": asset.thumbnail_job_id, "version": asset.version,
        "tags": asset.tags, "removed": asset.removed or [],
        "used_by": [{"consumer": u.consumer, "ref_id": u.ref_id, "label": u.label,
                     "href": u.href} for u in users],
        "uploaded_by": uploader.name if uploader is not None else None,
        "created_at": asset.created_at, "updated_at": asset.updated_at,
    }


@blp.get("")
@blp.arguments(AssetListArgs, location="query")
@blp.response(200, AssetPageSchema)
@permission_required("assets.view")
def list_assets(args):
    """The library, newest first by default: search names and tags, filter by tag and type,
    sort; with the workspace's storage and file count against its plan."""
    items, total = services.list_assets(q=args["q"], tag=args.get("tag"),
                                        kind=args.get("type"), sort=args["sort"],
                                        page=args["page"], per_page=args["per_page"])
    return {"items": [asset_view(a) for a in items], "total": total, "page": args["page"],
            "per_page": args["per_page"], "usage": services.usage()}


@blp.post("")
@max_body(MULTIPART_CAP)
@permission_required("assets.edit")
@blp.arguments(AssetUploadSchema, location="multipart")
@blp.response(201, AssetSchema)
def upload_asset(form):
    """Upload a file (multipart field ``file``). Its type is decided by its content; it is
    cleaned (metadata stripped, re-encoded, SVG sanitised, PDF rewritten without active
    content) and refused with 422 and a reason when it cannot be. Thumbnails follow in a
    background job (``thumbnail_job_id``). Over the plan's storage or file quota: 402."""
    upload = form["file"]
    asset = services.upload(upload.read(), upload.filename, name=form.get("name"),
                            tags=form.get("tags"))
    return asset_view(asset, used_by=[])


@blp.post("/uploads")
@permission_required("assets.edit")
@blp.arguments(PresignRequestSchema)
@blp.response(201, PresignedUploadSchema)
def start_upload(data):
    """Start a direct upload for a large file: the quota is checked now on ``bytes``; PUT
    the file to ``url`` with ``headers`` (straight to S3/R2, not through us), then confirm."""
    row, presigned = services.start_upload(data["filename"], data["content_type"],
                                           data["bytes"], data.get("asset_id"))
    return {"id": row.id, "method": presigned.method, "url": presigned.url,
            "headers": presigned.headers, "expires_at": presigned.expires_at,
            "confirm_url": url_for("assets_api.confirm_upload", upload_id=row.id)}


@blp.post("/uploads/<upload_id>/confirm")
@permission_required("assets.edit")
@blp.arguments(ConfirmSchema)
@blp.response(201, AssetSchema)
@blp.alt_response(200, schema=AssetSchema, description="the upload replaced an asset's file")
def confirm_upload(data, upload_id):
    """Take in the file PUT to the upload URL: the quota is checked again on what arrived,
    then the same checks and cleaning as a multipart upload."""
    asset, replaced = services.confirm_upload(upload_id, name=data.get("name"),
                                              tags=data.get("tags"))
    return asset_view(asset), 200 if replaced else 201


@blp.get("/<int:asset_id>")
@blp.response(200, AssetSchema)
@permission_required("assets.view")
def get_asset(asset_id):
    """One asset, with what uses it."""
    return asset_view(services.get_asset(asset_id))


@blp.patch("/<int:asset_id>")
@permission_required("assets.edit")
@blp.arguments(AssetPatchSchema)
@blp.response(200, AssetSchema)
def update_asset(data, asset_id):
    """Rename or re-tag an asset."""
    return asset_view(services.update(asset_id, name=data.get("name"), tags=data.get("tags")))


@blp.put("/<int:asset_id>/file")
@max_body(MULTIPART_CAP)
@permission_required("assets.edit")
@blp.arguments(AssetReplaceSchema, location="multipart")
@blp.response(200, AssetSchema)
def replace_file(form, asset_id):
    """Replace the file and keep the id: everything using the asset (a QR code's logo) picks
    up the new file. Its ``url`` changes (the old one stays cached where it was)."""
    return asset_view(services.replace(asset_id, form["file"].read()))


@blp.delete("/<int:asset_id>")
@permission_required("assets.edit")
@blp.response(204)
def delete_asset(asset_id):
    """Delete an asset and its files. Refused with 409 while something uses it; the error's
    ``fields.used_by`` lists what."""
    services.delete_asset(asset_id)
