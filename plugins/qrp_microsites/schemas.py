"""API shapes of microsites. Blocks are checked by their own types (``blocks.py``), so the
request schemas take them as raw objects and the service names each field at fault
(``blocks.2.url``)."""

from marshmallow import Schema, fields, validate

from qrp_microsites.models import STATUSES, VERSION_KINDS
from qrp_microsites.publish import SeoFields
from qrp_microsites.services import MAX_BLOCKS
from qrp_microsites.themes import MAX_CUSTOM_CSS
from qrplatform.inputs import Page

BLOCKS_HELP = (f"the page's blocks, in order (at most {MAX_BLOCKS}): each "
               "{type, ...its fields}; GET /api/v1/microsites/block-types lists the types and "
               "their fields; `id` (kept, or given) and `hidden` are common to all")


def Blocks(**kwargs) -> fields.List:
    """Blocks as the API returns them: {id, type, hidden, ...the type's fields}."""
    return fields.List(fields.Dict(), metadata={"description": (
        "the blocks, in order: each {id, type, hidden, ...the fields of its type}")}, **kwargs)


NOT_FOUND_HELP = ("the workspace's \"not found\" page: shown, once published, with status 404 "
                  "for its pages that do not exist or are not published and on its domains "
                  "(a domain's own not-found URL comes first); one per workspace")

class MicrositeSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    slug = fields.String(metadata={"description": "the public address is /m/{slug}"})
    status = fields.String(metadata={"enum": list(STATUSES)})
    url = fields.String(metadata={"description": "the public URL (served once published)"})
    blocks = Blocks()
    theme = fields.Dict()
    seo = fields.Nested(SeoFields)
    noindex = fields.Boolean()
    not_found_page = fields.Boolean(metadata={"description": NOT_FOUND_HELP})
    password_protected = fields.Boolean()
    custom_css = fields.String()
    domain = fields.String(allow_none=True, metadata={
        "description": "a verified custom domain whose root shows this page"})
    has_unpublished_changes = fields.Boolean()
    published_version = fields.Integer(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class MicrositePageSchema(Schema):
    items = fields.List(fields.Nested(MicrositeSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class MicrositeListArgs(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=200))
    status = fields.String(validate=validate.OneOf(STATUSES))
    page = Page()
    per_page = fields.Integer(load_default=24, validate=validate.Range(1, 100))


class _MicrositeInput(Schema):
    slug = fields.String(validate=validate.Length(max=64), metadata={
        "description": "default: made from the name"})
    blocks = fields.List(fields.Raw(), validate=validate.Length(max=MAX_BLOCKS),
                         metadata={"description": BLOCKS_HELP})
    theme = fields.Dict(metadata={"description": "{name: classic|midnight|forest|sunset|mono, "
                                                 "and optional background, surface, text, "
                                                 "muted, accent, accent_text (#rrggbb), font, "
                                                 "button_shape, background_asset_id}; GET "
                                                 "/api/v1/microsites/themes"})
    seo = fields.Dict(metadata={"description": "{title, description, image_asset_id}"})
    noindex = fields.Boolean(metadata={"description": "ask search engines not to list it"})
    not_found_page = fields.Boolean(metadata={"description": NOT_FOUND_HELP})
    password = fields.String(allow_none=True, validate=validate.Length(max=200), metadata={
        "description": "visitors must type it; an empty string removes it"})
    custom_css = fields.String(validate=validate.Length(max=MAX_CUSTOM_CSS), metadata={
        "description": "higher plans; no @import, url() only to this site or the asset CDN"})
    domain = fields.String(allow_none=True, validate=validate.Length(max=253))
    theme_preset_id = fields.Integer(allow_none=True, validate=validate.Range(1, 2**31 - 1),
                                     metadata={"description": "take the theme and custom CSS "
                                               "of this workspace preset (instead of theme "
                                               "and custom_css)"})


class MicrositeCreateSchema(_MicrositeInput):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    blocks = fields.List(fields.Raw(), load_default=list,
                         validate=validate.Length(max=MAX_BLOCKS),
                         metadata={"description": BLOCKS_HELP})


class MicrositePatchSchema(_MicrositeInput):
    name = fields.String(validate=validate.Length(min=1, max=200))


class VersionSchema(Schema):
    id = fields.Integer()
    number = fields.Integer()
    kind = fields.String(metadata={"enum": list(VERSION_KINDS), "description":
                                   "draft: a saved state of the draft; published: what was "
                                   "served from that publication on"})
    name = fields.String()
    blocks = Blocks()
    theme = fields.Dict()
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    live = fields.Boolean(metadata={"description": "the version served now"})


class LeadSchema(Schema):
    id = fields.Integer()
    microsite_id = fields.Integer()
    block_id = fields.String(metadata={"description": "the form block it came through"})
    data = fields.Dict(keys=fields.String(), values=fields.String())
    created_at = fields.DateTime()


class LeadPageSchema(Schema):
    items = fields.List(fields.Nested(LeadSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class LeadListArgs(Schema):
    page = Page()
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class BlockTypeSchema(Schema):
    type = fields.String()
    label = fields.String()
    icon = fields.String()
    description = fields.String()
    fields_ = fields.Dict(data_key="fields", attribute="fields",
                          metadata={"description": "JSON Schema of the block's fields"})
    defaults = fields.Dict()


class StarterSchema(Schema):
    key = fields.String(metadata={"example": "link_in_bio"})
    label = fields.String()
    description = fields.String()
    icon = fields.String()
    theme = fields.Dict()
    blocks = Blocks()


class ThemePresetSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    theme = fields.Dict(metadata={"description": "as a microsite's theme"})
    custom_css = fields.String()
    created_at = fields.DateTime()


class ThemePresetListSchema(Schema):
    items = fields.List(fields.Nested(ThemePresetSchema))


class ThemePresetCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    theme = fields.Dict(metadata={"description": "as a microsite's theme (GET "
                                                 "/api/v1/microsites/themes)"})
    custom_css = fields.String(validate=validate.Length(max=MAX_CUSTOM_CSS), metadata={
        "description": "higher plans, checked as a microsite's"})
    microsite_id = fields.Integer(validate=validate.Range(1, 2**31 - 1), metadata={
        "description": "take the look of this microsite instead (theme and custom CSS)"})


class ThemePresetPatchSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))


class ThemesSchema(Schema):
    themes = fields.List(fields.Dict())
    fonts = fields.List(fields.Dict())
    button_shapes = fields.List(fields.String())


class AnalyticsArgs(Schema):
    days = fields.Integer(load_default=30, validate=validate.Range(1, 365),
                          metadata={"description": "days of the workspace's time zone, today "
                                                   "included"})


class DayViewsSchema(Schema):
    day = fields.String()
    views = fields.Integer()


class AnalyticsSchema(Schema):
    days = fields.Integer()
    since = fields.Date()
    time_zone = fields.String(metadata={"description": "the workspace's time zone, whose days "
                                                       "these are"})
    views = fields.Integer(metadata={"description": "page views by people"})
    unique_visitors = fields.Integer(metadata={
        "description": "people, counted once a day (the visitor hash is salted daily)"})
    clicks = fields.Integer(metadata={"description": "links followed by people"})
    click_through_rate = fields.Float(allow_none=True, metadata={
        "description": "clicks / views; null without views"})
    clicks_by_block = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "block id -> clicks by people"})
    views_by_day = fields.List(fields.Nested(DayViewsSchema))
    not_people = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "views and clicks by bots, link previews and HEAD requests"})
