"""The webhook pages' forms (Flask-WTF: CSRF on each, errors beside their field)."""

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from qrplatform.netguard import MAX_URL_LENGTH
from qrplatform.webhooks.services import MAX_DESCRIPTION


class EndpointForm(FlaskForm):
    url = StringField("Endpoint URL", validators=[DataRequired("Enter your endpoint's address."),
                                                   Length(max=MAX_URL_LENGTH)],
                      description="Where we POST each event: a public https:// address of "
                                  "your server.")
    description = StringField("Description", validators=[Length(max=MAX_DESCRIPTION)],
                              description="Optional: what listens there, e.g. “CRM sync”.")
    # Choices (every declared type, each area's "domain.*" and "*") are set by the view.
    events = SelectMultipleField("Events", choices=[], widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput(), validate_choice=False)
