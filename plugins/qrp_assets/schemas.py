"""API shapes of the media library."""

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from qrp_assets.models import KINDS
from qrp_assets.sanitize import CONTENT_TYPES
from qrp_assets.services import MAX_TAGS, SORTS
from qrplatform.inputs import Page

TAGS_FIELD_HELP = f"at most {MAX_TAGS}; lower-cased"


class UsageSchema(Schema):
    consumer = fields.String(metadata={"description": "what kind of thing, e.g. qr.code"})
    ref_id = fields.String()
    label = fields.String()
    href = fields.String(allow_none=True, metadata={"description": "its page in the web app"})


class AssetSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(metadata={"enum": list(KINDS)})
    format = fields.String(metadata={"enum": list(CONTENT_TYPES)})
    content_type = fields.String(metadata={"description": "decided by the content"})
    bytes = fields.Integer(metadata={"description": "size of the stored (cleaned) file"})
    width = fields.Integer(allow_none=True, metadata={
        "description": "pixels (images, SVG); points of the first page (PDF)"})
    height = fields.Integer(allow_none=True)
    pages = fields.Integer(allow_none=True, metadata={"description": "PDF only"})
    frames = fields.Integer(metadata={"description": "more than 1 for an animation"})
    url = fields.String(metadata={"description": "immutable URL of the file (CDN when set); "
                                                 "it changes when the file is replaced"})
    thumbnails = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "width in pixels -> WebP URL; filled in by a background job"})
    thumbnail_job_id = fields.String(allow_none=True, metadata={
        "description": "GET /api/v1/jobs/{id} for the thumbnails' progress"})
    version = fields.Integer(metadata={"description": "1, plus one per replacement"})
    tags = fields.List(fields.String())
    removed = fields.List(fields.String(), metadata={
        "description": "what cleaning took out of the file (metadata, scripts...)"})
    used_by = fields.List(fields.Nested(UsageSchema))
    uploaded_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class QuotaUseSchema(Schema):
    used = fields.Integer()
    limit = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})


class LibraryUsageSchema(Schema):
    bytes = fields.Nested(QuotaUseSchema)
    files = fields.Nested(QuotaUseSchema)


class AssetPageSchema(Schema):
    items = fields.List(fields.Nested(AssetSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    usage = fields.Nested(LibraryUsageSchema)


class AssetListArgs(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=200),
                      metadata={"description": "search names and tags"})
    tag = fields.String(validate=validate.Length(max=50))
    type = fields.String(validate=validate.OneOf(KINDS),
                         metadata={"description": "image (PNG, JPEG, WebP, GIF), svg or pdf"})
    sort = fields.String(load_default="newest", validate=validate.OneOf(tuple(SORTS)))
    page = Page()
    per_page = fields.Integer(load_default=24, validate=validate.Range(1, 100))


class AssetUploadSchema(Schema):
    file = Upload(required=True, metadata={
        "description": "PNG, JPEG, WebP, GIF, SVG or PDF; the type is decided by the content"})
    name = fields.String(validate=validate.Length(max=200),
                         metadata={"description": "default: the file's name"})
    tags = fields.List(fields.String(validate=validate.Length(max=50)),
                       validate=validate.Length(max=MAX_TAGS),
                       metadata={"description": TAGS_FIELD_HELP})


class AssetReplaceSchema(Schema):
    file = Upload(required=True, metadata={"description": "the new file; the id stays"})


class AssetPatchSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    tags = fields.List(fields.String(validate=validate.Length(max=50)),
                       validate=validate.Length(max=MAX_TAGS),
                       metadata={"description": TAGS_FIELD_HELP})


class PresignRequestSchema(Schema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content_type = fields.String(required=True, validate=validate.OneOf(
        tuple(CONTENT_TYPES.values())), metadata={
        "description": "sent with the PUT; the stored type is still decided by the content"})
    bytes = fields.Integer(required=True, validate=validate.Range(1, 2**31 - 1),
                           metadata={"description": "the file's exact size"})
    asset_id = fields.Integer(validate=validate.Range(1, 2**31 - 1), metadata={
        "description": "replace this asset's file (it keeps its id)"})


class PresignedUploadSchema(Schema):
    id = fields.String(metadata={"description": "confirm with POST "
                                                "/api/v1/assets/uploads/{id}/confirm"})
    method = fields.String(metadata={"example": "PUT"})
    url = fields.String(metadata={"description": "PUT the file's bytes here"})
    headers = fields.Dict(keys=fields.String(), values=fields.String(),
                          metadata={"description": "send exactly these headers with the PUT"})
    expires_at = fields.DateTime()
    confirm_url = fields.String()


class ConfirmSchema(Schema):
    name = fields.String(validate=validate.Length(max=200))
    tags = fields.List(fields.String(validate=validate.Length(max=50)),
                       validate=validate.Length(max=MAX_TAGS))
