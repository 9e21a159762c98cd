"""API shapes of members, invitations, the workspace's sign-in rule and the audit log."""

from marshmallow import Schema, fields, validate

from qrplatform.auth.models import ROLES
from qrplatform.inputs import Day, Id, Page

ROLE = fields.String(required=True, validate=validate.OneOf(ROLES),
                     metadata={"description": "owner, admin, editor, viewer or billing"})


class MemberSchema(Schema):
    user_id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    two_factor = fields.Boolean(dump_only=True,
                                metadata={"description": "uses two-step sign-in"})
    joined_at = fields.DateTime(dump_only=True)


class RoleChangeSchema(Schema):
    role = ROLE


class OwnershipSchema(Schema):
    user_id = Id(required=True, metadata={"description": "the member who becomes "
                                                                     "owner; you become admin"})


class InvitationCreateSchema(Schema):
    email = fields.Email(required=True)
    role = ROLE


class InvitationAcceptSchema(Schema):
    token = fields.String(required=True, metadata={
        "description": "the token at the end of the invitation link (/invitations/<token>)"})


class JoinedWorkspaceSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()


class InvitationSchema(Schema):
    id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    invited_by_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    sent_at = fields.DateTime(dump_only=True)
    send_count = fields.Integer(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    expired = fields.Boolean(dump_only=True)


class SecuritySchema(Schema):
    require_two_factor = fields.Boolean(required=True, metadata={
        "description": "members without two-step sign-in are sent to set it up, and their "
                       "API calls are refused"})


class AuditFilterSchema(Schema):
    q = fields.String(load_default="", metadata={
        "description": "words in the summary, the actor's name or e-mail, the event type, or "
                       "an exact request id"})
    type = fields.String(load_default="", metadata={
        "description": "an event type (teams.member_removed) or an area ending in a dot "
                       "(teams.)"})
    actor_id = Id(metadata={"description": "the acting user's id"})
    since = Day(metadata={"description": "from this day (UTC)"})
    until = Day(metadata={"description": "up to and including this day (UTC)"})


class AuditArgsSchema(AuditFilterSchema):
    page = Page()
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    event_id = fields.String()
    event_type = fields.String()
    occurred_at = fields.DateTime()
    actor_type = fields.String(metadata={"description": "user, anonymous or system"})
    actor_user_id = fields.Integer(allow_none=True)
    actor_token_id = fields.Integer(allow_none=True,
                                    metadata={"description": "the API token used, if any"})
    actor_label = fields.String()
    request_id = fields.String(allow_none=True)
    summary = fields.String()
    data = fields.Dict()


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class TwoStepSchema(Schema):
    enabled = fields.Boolean(metadata={"description": "a second step is asked at sign-in"})
    app = fields.Boolean(metadata={"description": "an authenticator app is set up"})
    app_pending = fields.Boolean(metadata={
        "description": "an app's set-up waits for its first code (POST app/confirm)"})
    phone = fields.String(allow_none=True, metadata={
        "description": "the confirmed number for SMS codes, masked (•••• 0123)"})
    phone_pending = fields.Boolean(metadata={
        "description": "a number waits for the code texted to it (POST phone/confirm)"})
    sms_available = fields.Boolean(metadata={"description": "this server can send SMS codes"})
    recovery_codes_left = fields.Integer()
    required_here = fields.Boolean(metadata={
        "description": "the token's workspace requires two-step sign-in of its members"})


class TotpSetupSchema(Schema):
    otpauth_url = fields.String(metadata={
        "description": "for the authenticator app (show it as a QR code, or open it)"})
    secret = fields.String(metadata={"description": "the same key, to type in by hand"})


class TwoStepCodeSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=32),
                         metadata={"description": "the 6-digit code the app shows, or texted"})


class PhoneNumberSchema(Schema):
    phone = fields.String(required=True, validate=validate.Length(min=1, max=32),
                          metadata={"description": "international form, e.g. +44 7700 900123"})


class PasswordCheckSchema(Schema):
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=1, max=200),
                             metadata={"description": "your current password"})


class RecoveryCodesSchema(Schema):
    recovery_codes = fields.List(fields.String(), allow_none=True, metadata={
        "description": "single-use codes for when the phone is lost, shown this once; null "
                       "when you have some already"})
