"""The teams forms (Flask-WTF: CSRF on every one that changes something; errors beside their
field through partials/_forms.html)."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from qrplatform.auth.forms import ENTER_EMAIL, ENTER_NAME, ENTER_PASSWORD, NEW_PASSWORD, at_most
from qrplatform.auth.models import ROLES
from qrplatform.auth.services import MIN_PASSWORD_LENGTH
from qrplatform.inputs import FIRST_DAY, LAST_DAY, MAX_PAGE

ROLE_LABELS = {
    "owner": "Owner — everything, including ownership and sign-in rules",
    "admin": "Admin — everything but ownership",
    "editor": "Editor — creates and changes content",
    "viewer": "Viewer — looks, changes nothing",
    "billing": "Billing — manages the plan only",
}


def role_choices(include_owner: bool) -> list[tuple[str, str]]:
    return [(role, ROLE_LABELS[role]) for role in ROLES if include_owner or role != "owner"]


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""


class InviteForm(FlaskForm):
    email = EmailField("E-mail", validators=ENTER_EMAIL)
    role = SelectField("Role", default="editor")


class RoleForm(FlaskForm):
    """A member's role on the team page. Owner is no choice there (ownership is handed over by
    its own confirmed action, TransferForm), only shown on an owner's row as what they are."""

    role = SelectField("Role")

    def offer(self, current_role: str) -> "RoleForm":
        self.role.choices = [(role, role.capitalize()) for role in ROLES
                             if role != "owner" or current_role == "owner"]
        return self


class TransferForm(FlaskForm):
    user_id = SelectField("New owner", coerce=int,
                          description="They become owner; you stay on as admin.")


class SecurityForm(FlaskForm):
    require_two_factor = BooleanField("Require two-step sign-in for every member")


class AuditFilterForm(FlaskForm):
    """Filters in the query string (a GET form: nothing to forge, so no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Search", validators=[Optional(), Length(max=200)],
                    render_kw={"placeholder": "Search people, actions, request ids"})
    type = SelectField("Action", default="", validators=[Optional()])
    actor = SelectField("Who", default="", validators=[Optional()])
    since = DateField("From", validators=[Optional(), NumberRange(FIRST_DAY, LAST_DAY)])
    until = DateField("To (inclusive)", validators=[Optional(), NumberRange(FIRST_DAY, LAST_DAY)])
    page = IntegerField("Page", default=1, validators=[Optional(), NumberRange(1, MAX_PAGE)])


class InvitationSignupForm(FlaskForm):
    name = StringField("Your name", validators=[ENTER_NAME, at_most(120)])
    email = EmailField("E-mail", validators=ENTER_EMAIL)
    password = PasswordField("Password", validators=NEW_PASSWORD,
                             description=f"At least {MIN_PASSWORD_LENGTH} characters.")


class CodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired("Enter the code."), at_most(32)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text",
                                  "autocapitalize": "off", "spellcheck": "false"})


class PhoneForm(FlaskForm):
    phone = StringField("Mobile number", validators=[DataRequired("Enter your mobile number."),
                                                     at_most(32)],
                        description="International form, e.g. +44 7700 900123.",
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})


class PasswordConfirmForm(FlaskForm):
    password = PasswordField("Your password", validators=[ENTER_PASSWORD],
                             render_kw={"autocomplete": "current-password"})
