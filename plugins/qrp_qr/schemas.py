"""API shapes for QR codes, their images, design templates and bulk uploads."""

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate

from qrp_qr import payloads
from qrp_qr.models import KINDS, REDIRECT_STATUSES, TYPES
from qrp_qr.render import (
    DEFAULT_BLEED_MM,
    FORMATS,
    MAX_BLEED_MM,
    MAX_PRINT_MM,
    MIN_PRINT_MM,
    PRINT_UNITS,
    DesignSchema,
)
from qrp_qr.rules import MAX_TAGS, UTM_FIELDS
from qrp_qr.services import CODE_ACTIONS, MAX_SELECTION, SORTS
from qrp_qr.smartlinks import (
    BROWSERS,
    CONDITIONS,
    DEVICES,
    MAX_RULES,
    MAX_VARIANTS,
    MAX_WEIGHT,
    OSES,
    WEEKDAYS,
)
from qrplatform.inputs import MAX_ID, Id, Page

CONTENT_HELP = (
    "The type's fields. url: url · text: text · email: email, subject, body · phone: phone · "
    "sms: phone, message · wifi: ssid, security (WPA|WEP|nopass), password, hidden · "
    "vcard: first_name, last_name, organization, title, phone, mobile, email, website, street, "
    "city, region, postcode, country, note · geo: latitude, longitude · "
    "event: title, start, end, location, description (ISO 8601 times)."
)


def _code_type(value: str) -> None:
    """A built-in type or one an enabled plugin adds (known only once the app is set up)."""
    types = payloads.all_types()
    if value not in types:
        raise ValidationError(f"Must be one of: {', '.join(types)}.")


TYPE_HELP = {"description": f"one of {', '.join(TYPES)}, or a dynamic-only type an installed "
                            "plugin adds (microsites: microsite, content {microsite_id})"}


class UtmSchema(Schema):
    utm_source = fields.String(validate=validate.Length(max=200))
    utm_medium = fields.String(validate=validate.Length(max=200))
    utm_campaign = fields.String(validate=validate.Length(max=200))
    utm_term = fields.String(validate=validate.Length(max=200))
    utm_content = fields.String(validate=validate.Length(max=200))


assert set(UtmSchema._declared_fields) == set(UTM_FIELDS)


RULES_HELP = (
    "A dynamic code's redirect rules, in order; the first whose conditions all hold decides "
    "where a scan goes. Each: {id (kept when sent back), name?, when, destination}. `when` "
    "holds any of: device [" + ", ".join(DEVICES) + "], os [" + ", ".join(OSES) + "], "
    "browser [" + ", ".join(BROWSERS) + "], country [ISO alpha-2 such as DE], language "
    "[primary tags such as de], time {from: HH:MM, to: HH:MM} and weekdays ["
    + ", ".join(WEEKDAYS) + "] in the workspace's time zone, dates {from, to} (YYYY-MM-DD, "
    "inclusive), query [{name, value?}] (present, or equal), scans {first: N}. Inside a list "
    "any value matches; {} matches every scan. At most " + str(MAX_RULES) + " rules; the "
    "list replaces the current one ([] or null removes them).")
VARIANTS_HELP = (
    "A/B split of the default destination (when no rule matches): 2 to " + str(MAX_VARIANTS)
    + " {id?, name?, destination, weight 1-" + str(MAX_WEIGHT) + "}; a visitor keeps their "
    "variant for the (UTC) day. [] or null removes the split.")


APP_LINK_HELP = (
    "\"open in app\" for a dynamic code: {ios: {app?, store?}, android: {app?, store?}}. A "
    "phone of that OS that no rule caught goes to its app URL (a universal/app link "
    "https://..., or the app's own scheme such as myapp://item/1, which gets a page that tries "
    "the app and then falls back to the store link, else the web destination), else its store "
    "link; other devices go to the variants or the destination (the web fallback). null "
    "removes it.")
SLUG_HELP = (
    "a dynamic code's own short code: 3-64 letters, digits, hyphens and underscores, starting "
    "and ending with a letter or digit; unique on the platform (and so on every domain), "
    "not a reserved word such as api or login. Changing it keeps the old one as an alias that "
    "still redirects.")


class SmartRuleSchema(Schema):
    id = fields.String()
    name = fields.String()
    when = fields.Dict(metadata={"description": "conditions: " + ", ".join(CONDITIONS)})
    destination = fields.String()


class SmartVariantSchema(Schema):
    id = fields.String()
    name = fields.String()
    destination = fields.String()
    weight = fields.Integer()


class DestinationCheckSchema(Schema):
    status = fields.String(metadata={"enum": ["ok", "broken", "skipped"], "description":
                                     "skipped: the SSRF guard refused the address"})
    problem = fields.String(allow_none=True)
    checked_at = fields.DateTime()
    broken_since = fields.DateTime(allow_none=True)


class RuleWarningSchema(Schema):
    rule = fields.Integer(metadata={"description": "position in rules (from 0)"})
    id = fields.String()
    message = fields.String()


class ImageUrlSchema(Schema):
    png = fields.String()
    svg = fields.String()
    pdf = fields.String()


class FailingConditionSchema(Schema):
    condition = fields.String(metadata={"description": "e.g. tilt_30, blur_medium, glare, "
                                                       "corner, busy, far"})
    label = fields.String(metadata={"example": "at 30° tilt"})
    advice = fields.String(metadata={"description": "why it fails and what to change"})


class ScanGradeSchema(Schema):
    grade = fields.String(metadata={"enum": ["A", "B", "C", "D", "E"], "description":
                                    "A: decodes under every tested condition; E: fails most "
                                    "(refused); D: a warning"})
    score = fields.Float(metadata={"description": "weighted share of real-world conditions "
                                                  "(blur, tilt, rotation, JPEG, dim light, "
                                                  "glare, a covered corner, a busy page, "
                                                  "distance) under which it decodes"})
    failing = fields.List(fields.Nested(FailingConditionSchema))
    min_module_px = fields.Float(allow_none=True, metadata={
        "description": "the fewest camera pixels per module that still decode"})
    width_modules = fields.Float(metadata={"description": "the design's width in modules "
                                                          "(quiet zone and frame included)"})
    summary = fields.String()
    warning = fields.String(allow_none=True)
    version = fields.Integer(metadata={"description": "grading version"})


class PrintPresetSchema(Schema):
    preset = fields.String(metadata={"enum": ["hand", "poster", "billboard"]})
    label = fields.String()
    nearest_mm = fields.Float()
    farthest_mm = fields.Float()
    smallest_width_mm = fields.Float(metadata={"description": "print at least this wide"})
    largest_width_mm = fields.Float(metadata={"description": "larger than this, the code "
                                                             "no longer fits a phone's view "
                                                             "at the nearest distance"})
    advice = fields.String(metadata={"example": "print at least 2.6 cm wide for held in "
                                                "hand (15-30 cm)"})


class PrintGuidanceSchema(Schema):
    presets = fields.List(fields.Nested(PrintPresetSchema))
    camera = fields.Dict(metadata={"description": "the phone camera model: analysed frame "
                                                  "width, field of view, safety factor"})
    distance = fields.Dict(allow_none=True, metadata={
        "description": "for the asked distance: distance_mm, smallest_width_mm, advice"})
    width = fields.Dict(allow_none=True, metadata={
        "description": "for the asked print width: width_mm, farthest_mm, advice"})


class PrintGuidanceArgs(Schema):
    distance = fields.Float(validate=validate.Range(0.05, 100.0), metadata={
        "description": "scanning distance in metres: the smallest safe print width for it"})
    width = fields.Float(validate=validate.Range(0.2, 20000.0), metadata={
        "description": "print width (in ``unit``): the farthest safe scanning distance"})
    unit = fields.String(load_default="mm", validate=validate.OneOf(("mm", "in")))


class QRCodeSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    kind = fields.String(metadata={"enum": list(KINDS)})
    type = fields.String(metadata=TYPE_HELP)
    content = fields.Dict(metadata={"description": CONTENT_HELP})
    destination = fields.String(allow_none=True, metadata={
        "description": "where the short link sends a scanner (dynamic); the URL of a static "
                       "url code"})
    short_code = fields.String(allow_none=True)
    slug = fields.String(allow_none=True, metadata={
        "description": "the short code in the short link (dynamic codes): random, or chosen"})
    slug_aliases = fields.List(fields.String(), metadata={
        "description": "the code's earlier slugs; each still redirects to it"})
    short_url = fields.String(allow_none=True, metadata={"description": "dynamic codes only"})
    domain = fields.String(allow_none=True, metadata={
        "description": "the custom domain the short link lives on (GET /api/v1/domains); "
                       "null: the platform's short links"})
    design = fields.Nested(DesignSchema)
    scan_grade = fields.Nested(ScanGradeSchema, metadata={
        "description": "how well the design scans in real conditions, graded A to E"})
    print_guidance = fields.Nested(PrintGuidanceSchema, allow_none=True, metadata={
        "description": "the smallest safe print size for each scanning distance preset"})
    design_template_id = fields.Integer(allow_none=True)
    rules = fields.List(fields.Nested(SmartRuleSchema), metadata={"description": RULES_HELP})
    variants = fields.List(fields.Nested(SmartVariantSchema),
                           metadata={"description": VARIANTS_HELP})
    app_link = fields.Dict(allow_none=True, metadata={"description": APP_LINK_HELP})
    destination_broken = fields.Boolean(metadata={
        "description": "the scheduled check found the destination answering 4xx/5xx or not "
                       "at all"})
    destination_check = fields.Nested(DestinationCheckSchema, allow_none=True, metadata={
        "description": "the last destination check (null: not checked yet)"})
    rule_warnings = fields.List(fields.Nested(RuleWarningSchema), metadata={
        "description": "rules that can never match (saved anyway)"})
    redirect_status = fields.Integer()
    utm = fields.Nested(UtmSchema, allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    scan_cap = fields.Integer(allow_none=True)
    paused = fields.Boolean()
    has_password = fields.Boolean()
    state = fields.String(metadata={"description": "active, paused, expired or archived"})
    tags = fields.List(fields.String())
    folder_id = fields.Integer(allow_none=True, metadata={
        "description": "the folder the code is in (GET /api/v1/qr-folders), or null"})
    batch = fields.String(allow_none=True, metadata={
        "description": "the bulk upload that created the code (its job's result.batch)"})
    image_url = fields.Nested(ImageUrlSchema, metadata={
        "description": "the code at 512 px (PNG), as vectors (SVG) and for print (PDF); "
                       "immutable URLs (they change when the content or design changes)"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)
    archived_at = fields.DateTime(allow_none=True)


class _CodeInput(Schema):
    name = fields.String(validate=validate.Length(max=200))
    domain = fields.String(allow_none=True, validate=validate.Length(max=253), metadata={
        "description": "a dynamic code's short link on one of the workspace's verified "
                       "custom domains (its name); null or empty: the platform's"})
    content = fields.Dict(metadata={"description": CONTENT_HELP})
    destination = fields.String(validate=validate.Length(max=2000), metadata={
        "description": "shorthand for content.url of a url code"})
    design = fields.Nested(DesignSchema)
    design_template_id = Id(allow_none=True)
    # Shapes are checked by the service (qrp_qr.smartlinks), which names the wrong field.
    rules = fields.List(fields.Dict(), allow_none=True, validate=validate.Length(max=MAX_RULES),
                        metadata={"description": RULES_HELP})
    variants = fields.List(fields.Dict(), allow_none=True,
                           validate=validate.Length(max=MAX_VARIANTS),
                           metadata={"description": VARIANTS_HELP})
    redirect_status = fields.Integer(validate=validate.OneOf(REDIRECT_STATUSES))
    utm = fields.Nested(UtmSchema, allow_none=True)
    expires_at = fields.AwareDateTime(allow_none=True)
    scan_cap = fields.Integer(allow_none=True, validate=validate.Range(1, MAX_ID))
    paused = fields.Boolean()
    password = fields.String(load_only=True, allow_none=True,
                             validate=validate.Length(max=200),
                             metadata={"description": "ask scanners for it; \"\" removes it"})
    tags = fields.List(fields.String(validate=validate.Length(max=50)),
                       validate=validate.Length(max=MAX_TAGS))
    folder_id = Id(allow_none=True, metadata={"description": "put the code in this folder; "
                                                             "null: in no folder"})
    app_link = fields.Dict(allow_none=True, metadata={"description": APP_LINK_HELP})
    # The form is checked by the service (qrp_qr.rules.clean_slug), which says what is wrong.
    slug = fields.String(validate=validate.Length(max=200), metadata={"description": SLUG_HELP})


class QRCodeCreateSchema(_CodeInput):
    kind = fields.String(load_default="static", validate=validate.OneOf(KINDS))
    type = fields.String(required=True, validate=_code_type, metadata=TYPE_HELP)


class QRCodeUpdateSchema(_CodeInput):
    kind = fields.String(validate=validate.OneOf(KINDS),
                         metadata={"description": "cannot change; sent only to be checked"})
    type = fields.String(validate=_code_type, metadata=TYPE_HELP)
    archived = fields.Boolean(metadata={"description": "false restores an archived code"})


class QRCodeListArgs(Schema):
    q = fields.String(load_default="", metadata={"description": "search names and "
                                                               "destinations"})
    type = fields.String(validate=_code_type, metadata=TYPE_HELP)
    kind = fields.String(validate=validate.OneOf(KINDS))
    tag = fields.String()
    status = fields.String(load_default="active",
                           validate=validate.OneOf(("active", "archived", "all")))
    folder_id = Id(metadata={"description": "only the codes in this folder"})
    batch = fields.String(validate=validate.Length(min=1, max=32), metadata={
        "description": "only the codes one bulk upload created (its job's result.batch)"})
    broken = fields.Boolean(load_default=False, metadata={
        "description": "only the codes whose destination the scheduled check found broken "
                       "(destination_broken)"})
    sort = fields.String(load_default="newest", validate=validate.OneOf(SORTS), metadata={
        "description": "newest (default), oldest, name, or scans: people's scans over the "
                       "last 7 days, most first (newest when no plugin counts scans)"})
    page = Page()
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class FolderSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    codes = fields.Integer(dump_only=True, metadata={"description": "codes in it (not "
                                                                    "archived)"})
    created_at = fields.DateTime(dump_only=True)


class FolderPatchSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class CodeActionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(CODE_ACTIONS), metadata={
        "description": "tag or untag (with tag), move (with folder_id; null: out of any "
                       "folder), archive, restore, or download: a ZIP of their images made "
                       "by a job"})
    ids = fields.List(Id(), required=True,
                      validate=validate.Length(min=1, max=MAX_SELECTION),
                      metadata={"description": f"the codes, at most {MAX_SELECTION}"})
    tag = fields.String(validate=validate.Length(min=1, max=50))
    folder_id = Id(allow_none=True)


class CodeActionResultSchema(Schema):
    action = fields.String()
    count = fields.Integer(metadata={"description": "codes changed (or packed)"})
    job_id = fields.String(metadata={"description": "download: the job making the ZIP"})
    job_url = fields.String(metadata={"description": "download: GET it until it finished; "
                                                     "then its files.zip"})


class QRCodePageSchema(Schema):
    items = fields.List(fields.Nested(QRCodeSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ImageArgs(Schema):
    format = fields.String(load_default="png", validate=validate.OneOf(FORMATS))
    size = fields.Integer(load_default=512, metadata={"description": "pixels wide (PDF: CSS "
                                                                     "pixels, 0.75 pt each)"})
    width = fields.Float(validate=validate.Range(0, None, min_inclusive=False), metadata={
        "description": f"print the SVG or PDF at this physical width (in ``unit``; "
                       f"{MIN_PRINT_MM:g} to {MAX_PRINT_MM:g} mm) instead of "
                       f"``size`` pixels: the trim, with a bleed and crop marks around it"})
    unit = fields.String(load_default="mm", validate=validate.OneOf(PRINT_UNITS))
    bleed = fields.Float(validate=validate.Range(0, None), metadata={
        "description": f"background carried past the trim (in ``unit``; 0 to "
                       f"{MAX_BLEED_MM:g} mm; default {DEFAULT_BLEED_MM:g} mm)"})
    crop_marks = fields.Boolean(load_default=True, metadata={
        "description": "crop marks at the trim's corners, outside the bleed"})


class PrintSizeSchema(Schema):
    width_mm = fields.Float(metadata={"description": "the trim (the code and its frame)"})
    height_mm = fields.Float()
    bleed_mm = fields.Float()
    crop_marks = fields.Boolean()
    page_width_mm = fields.Float(metadata={"description": "the page: trim, bleed and marks"})
    page_height_mm = fields.Float()
    advice = fields.String(allow_none=True, metadata={
        "description": "how far away a print of this width still scans (the scan grade)"})


class ImageSchema(Schema):
    format = fields.String()
    size = fields.Integer()
    url = fields.String(metadata={"description": "immutable, cacheable for ever"})
    print = fields.Nested(PrintSizeSchema, allow_none=True, metadata={
        "description": "the physical size, when ``width`` was asked for"})


class LogoUploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "PNG, JPEG, WebP or GIF, ≤ 2 MB"})


class LogoSchema(Schema):
    logo = fields.Raw(metadata={"description": "use as design.logo: an asset id (with the "
                                               "media library) or a storage key",
                                "oneOf": [{"type": "integer"}, {"type": "string"}]})
    url = fields.String()


class BulkUploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "CSV with a header row"})
    skip_invalid = fields.Boolean(load_default=False, metadata={
        "description": "create the valid rows and skip the others (otherwise any bad row "
                       "refuses the whole file)"})
    kind = fields.String(load_default="dynamic", validate=validate.OneOf(KINDS))
    type = fields.String(load_default="url", validate=_code_type, metadata=TYPE_HELP)
    design_template_id = Id(allow_none=True)


class BulkRowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "line number in the file (header = 1)"})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class BulkCheckSchema(Schema):
    file = Upload(required=True, metadata={"description": "CSV with a header row"})
    kind = fields.String(load_default="dynamic", validate=validate.OneOf(KINDS))
    type = fields.String(load_default="url", validate=_code_type, metadata=TYPE_HELP)


class BulkRoomSchema(Schema):
    codes = fields.Integer(allow_none=True, metadata={"description": "null: no limit"})
    dynamic = fields.Integer(allow_none=True, metadata={"description": "null: no limit"})
    upgrade_url = fields.String(allow_none=True)


class BulkCheckResultSchema(Schema):
    rows = fields.Integer(metadata={"description": "rows that would make codes"})
    dynamic = fields.Integer(metadata={"description": "how many of them are dynamic"})
    invalid = fields.List(fields.Nested(BulkRowErrorSchema))
    within_plan = fields.Boolean(metadata={"description": "the plan has room for all of them"})
    plan_message = fields.String(allow_none=True, metadata={
        "description": "why the plan has no room, and the way out"})
    upgrade_url = fields.String(allow_none=True)
    room = fields.Nested(BulkRoomSchema, metadata={
        "description": "how many more codes the plan allows now"})


class BulkSampleArgs(Schema):
    type = fields.String(load_default="url", validate=_code_type, metadata=TYPE_HELP)


class BulkAcceptedSchema(Schema):
    job_id = fields.String()
    job_url = fields.String()
    rows = fields.Integer()
    skipped = fields.List(fields.Nested(BulkRowErrorSchema))


class DesignTemplateSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    design = fields.Nested(DesignSchema, required=True)
    scan_grade = fields.Nested(ScanGradeSchema, dump_only=True, metadata={
        "description": "the design's grade on a typical short link"})
    print_guidance = fields.Nested(PrintGuidanceSchema, dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class DesignTemplatePatchSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    design = fields.Nested(DesignSchema)


class TestScanSchema(Schema):
    """A described scan for "which rule wins"; device, os and browser override what
    user_agent says."""

    user_agent = fields.String(validate=validate.Length(max=512))
    device = fields.String(validate=validate.OneOf(DEVICES))
    os = fields.String(validate=validate.OneOf(OSES))
    browser = fields.String(validate=validate.OneOf(BROWSERS))
    country = fields.String(validate=validate.Length(equal=2))
    language = fields.String(validate=validate.Length(max=100),
                             metadata={"description": "a language tag or an Accept-Language"})
    at = fields.AwareDateTime(metadata={"description": "when (default: now); the rules read "
                                                       "it in the workspace's time zone"})
    query = fields.String(validate=validate.Length(max=2000),
                          metadata={"description": "the query string, e.g. src=flyer"})
    scan_number = fields.Integer(load_default=1, validate=validate.Range(1, 10**9))
    rules = fields.List(fields.Dict(), validate=validate.Length(max=MAX_RULES), metadata={
        "description": "rules being edited (default: the code's saved ones)"})
    variants = fields.List(fields.Dict(), validate=validate.Length(max=MAX_VARIANTS))
    destination = fields.String(validate=validate.Length(max=2000), metadata={
        "description": "the default destination (new codes; default: the code's)"})


class TestScanFactsSchema(Schema):
    device = fields.String(allow_none=True)
    os = fields.String(allow_none=True)
    browser = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    query = fields.String(allow_none=True)
    scan_number = fields.Integer()


class TestScanResultSchema(Schema):
    rule = fields.Integer(allow_none=True, metadata={
        "description": "position of the winning rule (from 0); null: no rule matched"})
    rule_id = fields.String(allow_none=True)
    destination = fields.String(metadata={"description": "where the scan goes (before UTM "
                                                         "parameters)"})
    variants = fields.List(fields.Nested(SmartVariantSchema), metadata={
        "description": "no rule matched and the default is split: the visitor gets one of "
                       "these by weight"})
    local_time = fields.String(metadata={"description": "the scan's time in the workspace's "
                                                        "time zone"})
    facts = fields.Nested(TestScanFactsSchema, metadata={"description": "what the rules saw"})
