"""A required field left empty says what to do beside it ("Enter the domain, e.g. …"), in our
words, on every form of the core and the plugins: never WTForms' "This field is required."."""

from flask_wtf import FlaskForm
from wtforms.validators import DataRequired, InputRequired


def _forms(cls=FlaskForm):
    for sub in cls.__subclasses__():
        yield sub
        yield from _forms(sub)


def test_every_required_field_says_what_to_enter(app):
    forms = [form for form in _forms() if form.__module__.startswith(("qrplatform", "qrp_"))]
    assert len(forms) > 20  # the app's forms are loaded with its plugins
    silent = []
    for form in forms:
        for name in dir(form):
            field = getattr(form, name, None)
            for validator in (getattr(field, "kwargs", {}) or {}).get("validators") or []:
                if isinstance(validator, DataRequired | InputRequired) and not validator.message:
                    silent.append(f"{form.__module__}.{form.__name__}.{name}")
    assert not silent, silent
