"""The builder's fixed forms (Flask-WTF: CSRF on each, errors beside their field). A block's
form is not here: it is drawn from its type's schema (``blockforms``)."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from qrp_microsites import starters, themes

COLOR = {"type": "color"}
COLOR_LABELS = {"background": "Background", "surface": "Cards and blocks", "text": "Text",
                "muted": "Secondary text", "accent": "Buttons", "accent_text": "Button text"}
SHAPE_LABELS = {"square": "Square", "rounded": "Rounded", "pill": "Pill"}


class NewMicrositeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the page a name."),
                                           Length(max=200)],
                       description="For you; visitors see the page's title (Settings).")
    starter = RadioField("Start from", default=starters.DEFAULT_STARTER,
                         choices=[(s.key, s.label) for s in starters.STARTERS.values()])
    # The workspace's presets, filled by the view; empty: the starter's own look.
    theme_preset = SelectField("Look", choices=[("", "The template's own look")], default="",
                               description="A look saved for the workspace (Look tab).")


class ThemeForm(FlaskForm):
    theme = RadioField("Theme", choices=[(name, values["label"])
                                         for name, values in themes.THEMES.items()])
    background = StringField(COLOR_LABELS["background"], render_kw=COLOR)
    surface = StringField(COLOR_LABELS["surface"], render_kw=COLOR)
    text = StringField(COLOR_LABELS["text"], render_kw=COLOR)
    muted = StringField(COLOR_LABELS["muted"], render_kw=COLOR)
    accent = StringField(COLOR_LABELS["accent"], render_kw=COLOR)
    accent_text = StringField(COLOR_LABELS["accent_text"], render_kw=COLOR)
    font = SelectField("Font", choices=[(name, label)
                                        for name, (label, _, _) in themes.FONTS.items()])
    button_shape = RadioField("Button shape", choices=[
        (name, SHAPE_LABELS.get(name, name.capitalize())) for name in themes.BUTTON_SHAPES])
    background_asset_id = SelectField("Background picture", choices=[("", "None")],
                                      validate_choice=False)
    custom_css = TextAreaField("Custom CSS", validators=[Optional(),
                                                         Length(max=themes.MAX_CUSTOM_CSS)],
                               description="No @import; url() only to your media library.",
                               render_kw={"rows": 6, "spellcheck": "false"})

    COLORS = tuple(COLOR_LABELS)


class SettingsForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the page a name."),
                                           Length(max=200)])
    slug = StringField("Address", validators=[DataRequired("Choose an address."),
                                              Length(max=64)],
                       description="Lower-case letters, digits and hyphens: /m/your-address.")
    seo_title = StringField("Title in search results and shares", validators=[Length(max=70)],
                            description="Default: the page's name.")
    seo_description = TextAreaField("Description", validators=[Length(max=200)],
                                    render_kw={"rows": 2})
    seo_image = SelectField("Picture for shares (Open Graph, Twitter)", choices=[("", "None")],
                            validate_choice=False)
    noindex = BooleanField("Ask search engines not to list this page")
    not_found_page = BooleanField(
        "Use as the “not found” page of this workspace",
        description="Once published, visitors see it for your pages that do not exist or are "
                    "not published, and on your domains for addresses they do not have.")
    password = PasswordField("Password", validators=[Optional(), Length(min=4, max=200)],
                             description="Visitors type it before they see the page.")
    remove_password = BooleanField("Remove the password")
    domain = SelectField("Custom domain", choices=[("", "None (the platform's address)")],
                         validate_choice=False)
