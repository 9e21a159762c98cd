"""The account forms (Flask-WTF: CSRF on every one, errors shown beside their field)."""

import zoneinfo

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from qrplatform.auth.services import MIN_PASSWORD_LENGTH

# What a person reads beside the field (WTForms' own words are "This field is required.").
ENTER_NAME = DataRequired("Enter your name.")
ENTER_EMAIL = [DataRequired("Enter your e-mail address."),
               Email("Enter an e-mail address such as ann@example.com.")]
ENTER_PASSWORD = DataRequired("Enter your password.")
NEW_PASSWORD = [DataRequired("Choose a password."),
                Length(min=MIN_PASSWORD_LENGTH, max=200,
                       message=f"Use {MIN_PASSWORD_LENGTH} to 200 characters.")]


def at_most(characters: int) -> Length:
    return Length(max=characters, message=f"At most {characters} characters.")


class SignupForm(FlaskForm):
    name = StringField("Your name", validators=[ENTER_NAME, at_most(120)])
    email = EmailField("E-mail", validators=ENTER_EMAIL)
    password = PasswordField(
        "Password",
        validators=NEW_PASSWORD,
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )
    # Filled in by app.js from the browser (Intl): the workspace's clock, UTC without it.
    time_zone = HiddenField(render_kw={"data-browser-time-zone": ""},
                            validators=[Length(max=64)])


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=ENTER_EMAIL)
    password = PasswordField("Password", validators=[ENTER_PASSWORD])
    remember = BooleanField("Keep me signed in on this device")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail", validators=ENTER_EMAIL)


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=NEW_PASSWORD)
    confirm = PasswordField("Repeat it", validators=[
        DataRequired("Type the new password again."),
        EqualTo("password", message="The two passwords differ.")])
    revoke_tokens = BooleanField(
        "Also revoke all my API tokens",
        description="Apps and integrations then need a new token. Every signed-in browser "
                    "is signed out either way.")


class ProfileForm(FlaskForm):
    name = StringField("Your name", validators=[ENTER_NAME, at_most(120)],
                       description="As your teammates see it.")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[
        DataRequired("Enter your current password.")])
    new_password = PasswordField("New password", validators=NEW_PASSWORD,
                                 description=f"At least {MIN_PASSWORD_LENGTH} characters.")
    confirm = PasswordField("Repeat the new password", validators=[
        DataRequired("Type the new password again."),
        EqualTo("new_password", message="The two passwords differ.")])
    revoke_tokens = BooleanField(
        "Also revoke all my API tokens",
        description="Apps and integrations then need a new token. Your other signed-in "
                    "browsers are signed out either way; this one stays signed in.")


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Name the token."), at_most(100)],
                       description="Where will you use it? e.g. “iPhone app”, “Zapier”.")
    access = RadioField("Access", default="*", choices=[
        ("*", "Full: everything your role may do"),
        ("read", "Read-only: look, change nothing"),
        ("areas", "Only the areas ticked below"),
    ])
    # Choices are the areas of the enabled plugins, filled in by the view.
    areas = SelectMultipleField("Areas", choices=[], widget=ListWidget(prefix_label=False),
                                option_widget=CheckboxInput())

    def validate_areas(self, field):
        if self.access.data == "areas" and not field.data:
            raise ValidationError("Tick at least one area, or choose another access.")

    @property
    def scopes(self) -> list[str]:
        return list(self.areas.data) if self.access.data == "areas" else [self.access.data]


class WorkspaceForm(FlaskForm):
    name = StringField("Workspace name", validators=[DataRequired("Name the workspace."),
                                                     at_most(120)])


class WorkspaceSettingsForm(FlaskForm):
    name = StringField("Workspace name", validators=[DataRequired("Name the workspace."),
                                                     at_most(120)])
    share_usage = BooleanField(
        "Help us improve QR Platform with anonymous product usage (Mixpanel)",
        description="Which features are used, never your codes' content or your visitors.")
    time_zone = SelectField(
        "Time zone", description="The clock of time-of-day redirect rules and of the days "
                                 "analytics counts.",
        choices=lambda: sorted(zoneinfo.available_timezones() | {"UTC"}))


class SwitchWorkspaceForm(FlaskForm):
    workspace_id = SelectField("Workspace", coerce=int)
