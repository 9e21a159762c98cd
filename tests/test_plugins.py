"""The plugin loader: discovery through entry points, order, and refusals that name the plugin."""

from importlib.metadata import EntryPoint

import pytest

import qrplatform.plugins as loader
from qrplatform.plugins import ENTRY_POINT_GROUP, PluginError


def entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def installed(monkeypatch):
    """Pretend exactly these entry points are installed."""

    def install(*points: EntryPoint):
        monkeypatch.setattr(loader, "entry_points", lambda group: list(points))

    return install


def test_builtin_plugins_are_found_through_entry_points(app):
    assert "qr" in [p.name for p in app.extensions["qrp.plugins"]]


def test_dependency_order_is_resolved(installed):
    installed(entry("second", "fake_plugins:second"), entry("first", "fake_plugins:first"))
    assert [p.name for p in loader.load_plugins()] == ["first", "second"]


def test_enabling_is_configuration(installed):
    installed(entry("first", "fake_plugins:first"), entry("second", "fake_plugins:second"))
    assert [p.name for p in loader.load_plugins(["first"])] == ["first"]


@pytest.mark.parametrize(("points", "enabled", "message"), [
    ([entry("needs_missing", "fake_plugins:needs_missing")], None,
     "plugin 'needs_missing' requires plugin 'nowhere', which is not installed"),
    ([entry("first", "fake_plugins:first"), entry("second", "fake_plugins:second")], ["second"],
     "plugin 'second' requires plugin 'first', which is not enabled"),
    ([entry("first", "fake_plugins:first"), entry("first", "fake_plugins:second")], None,
     "plugin 'first' is installed twice: fake_plugins:first and fake_plugins:second"),
    ([entry("gone", "fake_plugins.nowhere:plugin")], None,
     "plugin 'gone' (fake_plugins.nowhere:plugin) failed to load: ModuleNotFoundError"),
    ([entry("misnamed", "fake_plugins:misnamed")], None,
     "plugin 'misnamed' (fake_plugins:misnamed) calls itself 'called_something_else'"),
    ([entry("dict", "fake_plugins:not_a_plugin")], None, "is a dict, not a"),
    ([entry("bad_blueprint", "fake_plugins:bad_blueprint")], None,
     "plugin 'bad_blueprint': blueprint 'other' must start with the plugin name"),
    ([entry("cycle_a", "fake_plugins:cycle_a"), entry("cycle_b", "fake_plugins:cycle_b")], None,
     "plugins require each other in a cycle"),
    ([entry("first", "fake_plugins:first")], ["first", "typo"],
     "unknown plugin(s) 'typo' in QRP_PLUGINS; installed: first"),
])
def test_a_bad_plugin_stops_startup_naming_it(installed, points, enabled, message):
    installed(*points)
    with pytest.raises(PluginError) as error:
        loader.load_plugins(enabled)
    assert message in str(error.value)


def test_a_plugin_failing_to_wire_stops_create_app(installed, make_app):
    installed(entry("broken", "fake_plugins:broken"))
    with pytest.raises(PluginError, match=r"plugin 'broken' could not be wired: "
                                          r"RuntimeError.*flux capacitor"):
        make_app(QRP_PLUGINS=["broken"])


def test_cli_lists_plugins(app):
    result = app.test_cli_runner().invoke(args=["plugins", "list"])
    assert result.exit_code == 0
    assert "qr" in result.output and "enabled" in result.output


def test_plugin_settings_come_from_the_environment(make_app, monkeypatch):
    assert make_app().config["QR_REDIRECT_FAST_PATH"] is True  # the plugin's default
    monkeypatch.setenv("QR_REDIRECT_FAST_PATH", "0")
    monkeypatch.setenv("QR_BULK_PROCESSES", "3")
    app = make_app()
    assert app.config["QR_REDIRECT_FAST_PATH"] is False
    assert app.config["QR_BULK_PROCESSES"] == 3
