"""The plugin loader: discovery through entry points, order, and refusals that name the plugin."""

from importlib.metadata import EntryPoint

import pytest

import qrplatform.plugins as loader
from qrplatform.plugins import ENTRY_POINT_GROUP, PluginError
from qrplatform.registry import registry


def entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def installed(monkeypatch):
    """Pretend exactly these entry points are installed."""

    def install(*points: EntryPoint):
        monkeypatch.setattr(loader, "entry_points", lambda group: list(points))

    return install


def test_builtin_plugins_are_found_through_entry_points(app):
    assert "qr" in [p.name for p in registry(app).plugins]


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
     "plugin 'bad_blueprint': blueprint 'other' must be 'bad_blueprint' or start with "
     "'bad_blueprint_'"),
    ([entry("q", "fake_plugins:q")], None,
     "plugin 'q': table 'qr_codes' of Model(qr_codes) must start with 'q_'"),
    ([entry("stray_event", "fake_plugins:stray_event")], None,
     "plugin 'stray_event': event type 'qr.created' must start with 'stray_event.'"),
    ([entry("stray_permission", "fake_plugins:stray_permission")], None,
     "plugin 'stray_permission': permission 'billing.manage' must start with "
     "'stray_permission.'"),
    ([entry("stray_quota", "fake_plugins:stray_quota")], None,
     "plugin 'stray_quota': quota 'seats' must start with 'stray_quota.'"),
    ([entry("stray_setting", "fake_plugins:stray_setting")], None,
     "plugin 'stray_setting': setting 'SHORT_LINK_BASE_URL' must start with 'STRAY_SETTING_'"),
    ([entry("stray_stream", "fake_plugins:stray_stream")], None,
     "plugin 'stray_stream': stream type 'scans.seen' must start with 'stray_stream.'"),
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


@pytest.mark.parametrize(("names", "message"), [
    (["workspace"], "plugin 'workspace' declares event type 'workspace.created', already "
                    "declared by the core"),
    (["counts_a", "counts_b"], "plugin 'counts_b' declares metric 'qrp_things_total', already "
                               "declared by plugin 'counts_a'"),
])
def test_a_declaration_made_twice_stops_startup_naming_both(installed, make_app, names,
                                                             message):
    installed(*(entry(name, f"fake_plugins:{name}") for name in names))
    with pytest.raises(PluginError) as error:
        make_app(QRP_PLUGINS=names)
    assert message in str(error.value)


def test_an_empty_plugin_list_boots_the_bare_core(make_app, monkeypatch):
    from qrplatform.config import load_settings

    monkeypatch.setenv("QRP_PLUGINS", "")
    assert load_settings("/tmp")["QRP_PLUGINS"] == []
    monkeypatch.delenv("QRP_PLUGINS")
    assert load_settings("/tmp")["QRP_PLUGINS"] is None  # unset: every installed plugin

    app = make_app(QRP_PLUGINS=[])
    assert registry(app).plugins == []
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.post("/api/v1/auth/signup", json={
        "email": "safe@example.com", "password": "correct horse battery",
        "name": "Safe"}).status_code == 201
    assert "/api/v1/qr-codes" not in client.get("/api/openapi.json").json["paths"]


def test_slots_and_signal_receivers_work_only_where_the_plugin_is_enabled(
        installed, make_app, db):
    import fake_plugins

    from qrplatform.auth import services
    from qrplatform.testing.pytest_plugin import DEFAULT_PASSWORD, csrf_token

    installed(entry("greeter", "fake_plugins:greeter"))
    with_greeter, bare = make_app(QRP_PLUGINS=["greeter"]), make_app(QRP_PLUGINS=[])
    with with_greeter.app_context():
        services.signup("slot@example.com", DEFAULT_PASSWORD, "Sam")
    with bare.app_context():
        services.signup("bare@example.com", DEFAULT_PASSWORD, "Bo")
    assert "slot@example.com" in fake_plugins.heard
    assert "bare@example.com" not in fake_plugins.heard

    for app, expected in ((with_greeter, True), (bare, False)):
        client = app.test_client()
        login = client.post("/login", data={"email": "slot@example.com",
                                            "password": DEFAULT_PASSWORD,
                                            "csrf_token": csrf_token(client)})
        assert login.status_code == 302
        home = client.get("/dashboard").get_data(as_text=True)
        assert ("Hello from the greeter plugin, Sam&#39;s workspace" in home) is expected
