"""The microsites.blocks extension point refuses bad contributions at startup, naming the
plugin; contributions to a point no enabled plugin offers are left unused."""


import pytest

from qrplatform.plugins import PluginError
from qrplatform.registry import registry
from qrplatform.testing.pytest_plugin import builtin_plugins


@pytest.mark.parametrize(("name", "message"), [
    ("not_a_block", "plugin 'not_a_block' contributes a dict to 'microsites.blocks', which "
                    "takes Block"),
    ("second_heading", "plugin 'second_heading' declares microsites.blocks item 'heading', "
                       "already declared by plugin 'microsites'"),
    ("bad_block_name", "plugin 'bad_block_name': block type 'Bad Name': names are"),
])
def test_bad_block_types_stop_startup(make_app, install_plugins, name, message):
    install_plugins(**{name: f"fake_plugins:{name}"})
    with pytest.raises(PluginError) as error:
        make_app(QRP_PLUGINS=[*builtin_plugins(), name])
    assert message in str(error.value)


def test_contributions_wait_for_the_plugin_that_offers_the_point(make_app, install_plugins):
    install_plugins(second_heading="fake_plugins:second_heading")
    app = make_app(QRP_PLUGINS=["second_heading"])
    assert "microsites.blocks" not in registry(app).contributions
