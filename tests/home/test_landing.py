"""The public landing page at /: visitors see what this installation does (its highlights, no
more), members go to their home."""

from __future__ import annotations

import re

import pytest

from qrplatform.plugins import PluginError
from qrplatform.registry import registry


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_visitor_sees_the_landing_page_with_sign_up_and_log_in(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="/signup"' in html and 'href="/login"' in html
    text = _text(html)
    # The ★ points of the built-in plugins and the core.
    for point in ("Every code verified before it ships", "Honest analytics, bots shown apart",
                  "Privacy by default", "Self-hostable"):
        assert point in text, point


def test_a_member_is_sent_home(client, create_user, login):
    login(create_user())
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard")


def test_the_page_promises_only_what_is_installed(make_app, db):
    bare = make_app(QRP_PLUGINS=[])
    text = _text(bare.test_client().get("/").get_data(as_text=True))
    assert "Self-hostable" in text and "Privacy by default" in text
    for absent in ("verified before it ships", "Honest analytics", "Made for teams",
                   "Your own domain", "media library"):
        assert absent not in text, absent


def test_a_plugin_adds_its_lines_in_its_order(make_app, db, install_plugins):
    install_plugins(herald="fake_plugins:herald")
    app = make_app(QRP_PLUGINS=["herald"])
    assert [h.title for h in registry(app).highlights] == [
        "Greetings on paper", "Privacy by default", "Self-hostable"]
    text = _text(app.test_client().get("/").get_data(as_text=True))
    assert text.index("Greetings on paper") < text.index("Privacy by default")


def test_a_plugin_cannot_declare_another_plugins_step(make_app, install_plugins):
    install_plugins(stray_step="fake_plugins:stray_step")
    with pytest.raises(PluginError, match=r"onboarding step 'qr\.first' must start with"):
        make_app(QRP_PLUGINS=["stray_step"])
