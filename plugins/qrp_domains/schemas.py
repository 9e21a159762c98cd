"""API shapes of custom domains, their checks, usage and the jobs that move their codes."""

from marshmallow import Schema, fields, validate

from qrp_domains.models import STATUSES
from qrp_domains.names import MAX_NAME
from qrp_domains.services import MAX_URL


class DnsRecordSchema(Schema):
    type = fields.String(metadata={"description": "TXT, CNAME, A or AAAA"})
    host = fields.String(metadata={"description": "the full name the record lives at"})
    name = fields.String(metadata={"description": "the same, relative to the registrable "
                                                  "domain (what most DNS panels ask for; @ is "
                                                  "the domain itself)"})
    value = fields.String()
    purpose = fields.String(metadata={"description": "ownership (needed once) or routing "
                                                     "(kept for good)"})


class DomainHttpVerificationSchema(Schema):
    url = fields.String(metadata={"description": "serve this file from the domain's current "
                                                 "web server..."})
    content = fields.String(metadata={"description": "...holding exactly this text"})


class DomainFindingSchema(Schema):
    record = fields.String(metadata={"description": "TXT, CNAME, A or HTTP"})
    host = fields.String()
    expected = fields.String()
    found = fields.List(fields.String())
    ok = fields.Boolean(allow_none=True, metadata={"description": "null: DNS did not answer"})
    message = fields.String(metadata={"description": "in plain words: what is right, or what "
                                                     "is missing or wrong and what to do"})


class DomainSchema(Schema):
    id = fields.Integer()
    name = fields.String(metadata={"description": "in ASCII (punycode for an IDN)"})
    display_name = fields.String(metadata={"description": "as people read it (Unicode)"})
    status = fields.String(metadata={"enum": list(STATUSES)})
    verification = fields.List(fields.Nested(DnsRecordSchema), metadata={
        "description": "the DNS records to create"})
    http_verification = fields.Nested(DomainHttpVerificationSchema, metadata={
        "description": "instead of the TXT record: a file proving the domain is yours"})
    owned = fields.Boolean(metadata={"description": "the TXT record or the file proved the "
                                                    "domain is this workspace's"})
    problems = fields.List(fields.String(), metadata={
        "description": "what the last check found missing or wrong, in plain words"})
    findings = fields.List(fields.Nested(DomainFindingSchema))
    root_url = fields.String(allow_none=True, metadata={
        "description": "where / of the domain sends visitors (null: the domain's 404)"})
    not_found_url = fields.String(allow_none=True, metadata={
        "description": "where unknown paths send visitors (null: a built-in page in the "
                       "workspace's name)"})
    read_only = fields.Boolean(metadata={
        "description": "beyond the plan's quota: keeps redirecting its codes, takes no new "
                       "codes and no changes"})
    read_only_reason = fields.String(allow_none=True)
    verified_at = fields.DateTime(allow_none=True)
    last_checked_at = fields.DateTime(allow_none=True)
    next_check_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class DomainCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME + 1),
                         metadata={"description": "such as go.brand.com (an IDN may be typed "
                                                  "in Unicode)"})


class DomainUpdateSchema(Schema):
    root_url = fields.String(allow_none=True, validate=validate.Length(max=MAX_URL))
    not_found_url = fields.String(allow_none=True, validate=validate.Length(max=MAX_URL))


class DomainDeleteArgs(Schema):
    force = fields.Boolean(load_default=False, metadata={
        "description": "remove it although codes use it: their short links move to the "
                       "platform's domain (a job) and printed ones stop working"})


class DomainCheckSchema(Schema):
    id = fields.Integer()
    checked_at = fields.DateTime()
    trigger = fields.String(metadata={"description": "manual or scheduled"})
    status_before = fields.String()
    status_after = fields.String()
    conclusive = fields.Boolean(metadata={"description": "false: DNS did not answer"})
    findings = fields.List(fields.Nested(DomainFindingSchema))


class DomainUsageSchema(Schema):
    codes = fields.Integer(metadata={"description": "QR codes whose short link is on the "
                                                    "domain (archived ones included)"})
    active_codes = fields.Integer()
    scans_30_days = fields.Integer(allow_none=True, metadata={
        "description": "their scans in the last 30 days (null without analytics)"})
    read_only = fields.Boolean()
    read_only_reason = fields.String(allow_none=True)


class DomainJobSchema(Schema):
    job_id = fields.String()
    job_url = fields.String(metadata={"description": "GET it for progress"})
