"""API shapes for accounts, workspaces and tokens."""

from marshmallow import Schema, fields, validate

from qrplatform.auth.services import MIN_PASSWORD_LENGTH
from qrplatform.inputs import Id


def chosen_password() -> fields.String:
    """A password being chosen: the account rule's length (the forms use the same)."""
    return fields.String(required=True, load_only=True,
                         validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=200))


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    email = fields.Email(dump_only=True)
    name = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class WorkspaceSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    plan = fields.String(dump_only=True)
    personal = fields.Boolean(dump_only=True)
    role = fields.String(dump_only=True, metadata={"description": "your role in it"})
    analytics_opt_out = fields.Boolean(
        dump_only=True, metadata={"description": "sends nothing to our product analytics"})
    time_zone = fields.String(dump_only=True, metadata={
        "description": "IANA name; the clock of time-of-day redirect rules"})


class WorkspaceCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class WorkspaceUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    analytics_opt_out = fields.Boolean(
        metadata={"description": "true: send nothing about this workspace to our product "
                                 "analytics (Mixpanel)"})
    time_zone = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "IANA name such as Europe/Berlin: the clock of time-of-day redirect "
                       "rules"})


class SignupSchema(Schema):
    email = fields.Email(required=True)
    password = chosen_password()
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    time_zone = fields.String(validate=validate.Length(max=64), metadata={
        "description": "IANA name (the device's); the personal workspace's clock, UTC if "
                       "unknown"})


class SignupResultSchema(Schema):
    user = fields.Nested(UserSchema)
    workspace = fields.Nested(WorkspaceSchema)


class TokenRequestSchema(Schema):
    email = fields.Email(required=True)
    password = fields.String(required=True, load_only=True)
    workspace_id = Id(
        metadata={"description": "the workspace the token acts in; your personal one if omitted"}
    )
    name = fields.String(load_default="API token", validate=validate.Length(max=100))
    scopes = fields.List(fields.String(), metadata={
        "description": "what the token may do: '*' (everything your role may do, the default), "
                       "'read' (look only), areas such as 'qr', or permission names such as "
                       "'teams.audit'"})
    second_factor = fields.String(load_only=True, metadata={
        "description": "a one-time code (authenticator app, SMS or recovery code), for "
                       "accounts with two-step sign-in"})


class TokenSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    prefix = fields.String(dump_only=True, metadata={"description": "first characters, to tell "
                                                                    "tokens apart"})
    workspace_id = fields.Integer(dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class TokenCreatedSchema(TokenSchema):
    token = fields.String(dump_only=True,
                          metadata={"description": "shown once; keep it secret"})


class ProfileUpdateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120),
                         metadata={"description": "your name, as teammates see it"})


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, load_only=True,
                                     validate=validate.Length(max=200))
    new_password = chosen_password()
    revoke_tokens = fields.Boolean(load_default=False, metadata={
        "description": "also revoke every API token of yours, this one included"})


class PasswordResetRequestSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class PasswordResetSchema(Schema):
    token = fields.String(required=True, load_only=True, validate=validate.Length(max=500),
                          metadata={"description": "the last part of the e-mailed link, "
                                                   "/reset-password/<token>"})
    new_password = chosen_password()
    revoke_tokens = fields.Boolean(load_default=False, metadata={
        "description": "also revoke every API token of yours"})


class MeSchema(Schema):
    user = fields.Nested(UserSchema)
    workspace = fields.Nested(WorkspaceSchema, metadata={"description": "the token's workspace"})
    workspaces = fields.List(fields.Nested(WorkspaceSchema))
    permissions = fields.List(fields.String())


class OnboardingStepSchema(Schema):
    key = fields.String(dump_only=True, metadata={"description": "the step's name, e.g. "
                                                  "qr.first_code"})
    title = fields.String(dump_only=True)
    text = fields.String(dump_only=True)
    url = fields.String(dump_only=True, allow_none=True,
                        metadata={"description": "the page where it is done"})
    done = fields.Boolean(dump_only=True)
    done_at = fields.DateTime(dump_only=True, allow_none=True)
    manual = fields.Boolean(dump_only=True, metadata={
        "description": "done only when marked (POST /api/v1/me/onboarding/done), e.g. a download "
                       "made outside the web app; other steps follow real data"})


class OnboardingSchema(Schema):
    steps = fields.List(fields.Nested(OnboardingStepSchema))
    done = fields.Integer(dump_only=True, metadata={"description": "steps done"})
    total = fields.Integer(dump_only=True)
    complete = fields.Boolean(dump_only=True)
    dismissed = fields.Boolean(dump_only=True)
    dismissed_at = fields.DateTime(dump_only=True, allow_none=True)
    visible = fields.Boolean(dump_only=True, metadata={
        "description": "shown on the home page: something left to do, and not dismissed"})


class OnboardingMarkSchema(Schema):
    step = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"description": "the key of a manual step", "example":
                                   "qr.download"})
