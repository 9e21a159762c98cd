"""The QR code forms (Flask-WTF: CSRF on every one, errors shown beside their field).

A code's content fields depend on its type; they are drawn from the type's schema in
``payloads`` (one definition for the API, the pages and the CSV upload) and posted as
``content-<type>-<field>``.
"""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from qrp_qr import payloads, render
from qrp_qr.models import REDIRECT_STATUSES
from qrplatform.inputs import MAX_ID


def _type_choices() -> list[tuple[str, str]]:
    """Built-in types and those the enabled plugins add (read when a form is made)."""
    return list(payloads.type_labels().items())


STYLE_LABELS = {"square": "Square", "rounded": "Rounded", "dots": "Dots", "circle": "Circle"}


class DesignFields(FlaskForm):
    foreground = StringField("Foreground", default="#000000", render_kw={"type": "color"})
    background = StringField("Background", default="#ffffff", render_kw={"type": "color"})
    custom_eyes = BooleanField("Eyes in another colour")
    eye_color = StringField("Eye colour", default="#000000", render_kw={"type": "color"})
    module_style = SelectField("Modules", choices=[(s, STYLE_LABELS[s])
                                                   for s in render.MODULE_STYLES])
    eye_style = SelectField("Eyes", choices=[(s, STYLE_LABELS[s]) for s in render.EYE_STYLES])
    error_correction = SelectField("Error correction", default="M", choices=[
        ("L", "L — 7 %"), ("M", "M — 15 %"), ("Q", "Q — 25 %"), ("H", "H — 30 %")],
        description="More correction survives damage but makes denser codes. A logo uses H.")
    quiet_zone = IntegerField("Quiet zone (modules)", default=4,
                              validators=[NumberRange(0, 10)])
    logo = StringField("Logo", render_kw={"type": "hidden"})
    logo_size = FloatField("Logo size", default=render.DEFAULT_LOGO,
                           validators=[NumberRange(render.MIN_LOGO, render.MAX_LOGO)],
                           render_kw={"type": "range", "min": render.MIN_LOGO,
                                      "max": render.MAX_LOGO, "step": 0.01})
    frame = SelectField("Frame", choices=[("none", "None"), ("box", "Frame with text")])
    frame_text = StringField("Frame text", default="Scan me", validators=[Length(max=30)],
                             description="Up to 30 characters of Western European languages; "
                                         "a long one is set smaller to fit the frame.")
    frame_color = StringField("Frame colour", default="#000000", render_kw={"type": "color"})

    def design(self) -> dict:
        return {
            "foreground": self.foreground.data, "background": self.background.data,
            "eye_color": self.eye_color.data if self.custom_eyes.data else None,
            "module_style": self.module_style.data, "eye_style": self.eye_style.data,
            "error_correction": self.error_correction.data,
            "quiet_zone": self.quiet_zone.data if self.quiet_zone.data is not None else 4,
            "logo": self.logo.data or None,
            "logo_size": self.logo_size.data or render.DEFAULT_LOGO,
            "frame": self.frame.data, "frame_text": self.frame_text.data or "",
            "frame_color": self.frame_color.data,
        }

    def fill(self, design: dict) -> None:
        design = render.normalise_design(design)
        for name in ("foreground", "background", "module_style", "eye_style",
                     "error_correction", "quiet_zone", "logo", "logo_size", "frame",
                     "frame_text"):
            getattr(self, name).data = design[name]
        self.custom_eyes.data = bool(design["eye_color"])
        self.eye_color.data = design["eye_color"] or design["foreground"]
        self.frame_color.data = design["frame_color"] or design["foreground"]


class QRCodeForm(DesignFields):
    name = StringField("Name", validators=[Optional(), Length(max=200)],
                       description="For you; defaults to the content.")
    kind = RadioField("Kind", default="dynamic", choices=[
        ("dynamic", "Dynamic — a short link; change the destination any time, see scans"),
        ("static", "Static — the content itself; can never change")])
    type = SelectField("Type", default="url",
                       choices=_type_choices)
    domain = SelectField("Short link domain", default="", choices=[("", "")],
                         description="Where the short link, and so the printed code, points.")
    slug = StringField("Short link slug", validators=[Length(max=200)],
                       description="Your own short code, such as spring-menu; empty: a random "
                                   "one. A changed slug keeps the old one redirecting.")
    ios_app = StringField("iPhone/iPad: app link", validators=[Length(max=2000)],
                          description="A universal link (https://…) or the app's own "
                                      "scheme (myapp://…).")
    ios_store = StringField("iPhone/iPad: App Store link", validators=[Length(max=2000)])
    android_app = StringField("Android: app link", validators=[Length(max=2000)],
                              description="An app link (https://…) or the app's own scheme.")
    android_store = StringField("Android: Google Play link", validators=[Length(max=2000)])
    design_template = SelectField("Start from a saved design", coerce=int, default=0,
                                  choices=[(0, "—")])
    tags = StringField("Tags", description="Separated by commas.",
                       validators=[Length(max=500)])
    redirect_status = SelectField("Redirect", coerce=int, default=302, choices=[
        (s, {302: "302 Found (default)", 301: "301 Moved permanently",
             307: "307 Temporary", 308: "308 Permanent"}[s]) for s in REDIRECT_STATUSES])
    expires_at = DateTimeLocalField("Expires (UTC)", validators=[Optional()],
                                    format="%Y-%m-%dT%H:%M")
    scan_cap = IntegerField("Stop after this many scans",
                            validators=[Optional(), NumberRange(1, MAX_ID)])
    paused = BooleanField("Paused")
    password = PasswordField("Password", validators=[Optional(), Length(max=200)],
                             description="Scanners must type it. Leave empty to keep as is.")
    remove_password = BooleanField("Remove the password")
    utm_source = StringField("utm_source", validators=[Length(max=200)])
    utm_medium = StringField("utm_medium", validators=[Length(max=200)])
    utm_campaign = StringField("utm_campaign", validators=[Length(max=200)])
    save_template = StringField("Save this design as", validators=[Length(max=100)],
                                description="A name, to reuse the design later.")


class LogoForm(FlaskForm):
    logo_file = FileField("Logo", validators=[DataRequired("Choose a logo file.")])


class TemplateForm(DesignFields):
    name = StringField("Name", validators=[DataRequired("Name the design."), Length(max=100)])


class BulkForm(FlaskForm):
    file = FileField("CSV file", validators=[DataRequired("Choose a CSV file.")],
                     description="A header row, then one code per row; up to 10,000 rows.")
    kind = RadioField("Kind", default="dynamic", choices=[("dynamic", "Dynamic"),
                                                          ("static", "Static")])
    type = SelectField("Type", default="url",
                       choices=_type_choices)
    design_template = SelectField("Design", coerce=int, default=0, choices=[(0, "Default")])
    skip_invalid = BooleanField("Skip bad rows and create the others")
