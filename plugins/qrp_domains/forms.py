"""The domains pages' forms (Flask-WTF: CSRF on every one, errors beside their field)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from qrp_domains.names import MAX_NAME
from qrp_domains.services import MAX_URL


class AddDomainForm(FlaskForm):
    name = StringField("Domain", validators=[DataRequired("Enter the domain, e.g. go.brand.com."),
                                             Length(max=MAX_NAME + 1)],
                       render_kw={"placeholder": "go.brand.com", "autocomplete": "off",
                                  "spellcheck": "false", "autocapitalize": "none"},
                       description="A subdomain you own, such as go.brand.com; short links "
                                   "then read go.brand.com/abc.")


class SettingsForm(FlaskForm):
    root_url = StringField("When someone opens the domain itself", validators=[
        Length(max=MAX_URL)], render_kw={"placeholder": "https://brand.com/"},
        description="A web address to send them to; empty shows the “not found” page.")
    not_found_url = StringField("When a path or code does not exist", validators=[
        Length(max=MAX_URL)], render_kw={"placeholder": "https://brand.com/404"},
        description="A web address to send them to; empty shows a page in your "
                    "workspace's name.")


class RemoveForm(FlaskForm):
    confirm = BooleanField("I understand: printed codes with this domain stop working once "
                           "it no longer points at us")
