"""Plugins that are wrong on purpose, for the loader's refusals (tests/test_plugins.py)."""

from flask import Blueprint

from qrplatform import signals
from qrplatform.plugins import Highlight, Metric, OnboardingStep, Permission, Plugin, Quota

needs_missing = Plugin(name="needs_missing", requires=["nowhere"])
first = Plugin(name="first")
second = Plugin(name="second", requires=["first"])
cycle_a = Plugin(name="cycle_a", requires=["cycle_b"])
cycle_b = Plugin(name="cycle_b", requires=["cycle_a"])
misnamed = Plugin(name="called_something_else")
not_a_plugin = {"name": "dict"}
bad_blueprint = Plugin(name="bad_blueprint", blueprints=[Blueprint("other", __name__)])


def broken_setup(app):
    raise RuntimeError("cannot reach the flux capacitor")


broken = Plugin(name="broken", setup=broken_setup)


class _Table:
    """Just what the loader reads of a model."""

    def __init__(self, name: str):
        self.__tablename__ = name
        self.__name__ = f"Model({name})"


# "q" must not own the qr plugin's tables (a prefix is the name and an underscore).
q = Plugin(name="q", models=[_Table("qr_codes")])
stray_event = Plugin(name="stray_event", events={"qr.created": "not ours"})
stray_permission = Plugin(name="stray_permission",
                          permissions=[Permission("billing.manage", "not ours")])
stray_quota = Plugin(name="stray_quota", quotas={"seats": Quota({"free": 1}, "seats")})
stray_setting = Plugin(name="stray_setting", settings={"SHORT_LINK_BASE_URL": "x"})
stray_stream = Plugin(name="stray_stream", streams={"scans.seen": "qrp.scans"})


heard = []  # who greeter's signal receiver saw sign up


def _hear(user, **_extra):
    heard.append(user.email)

# A plugin that fills a slot of the core's home page and hooks a signal.
greeter = Plugin(name="greeter", blueprints=[Blueprint("greeter", __name__,
                                                      template_folder="templates")],
                 slots={"home.cards": "greeter_card.html"},
                 signal_receivers={signals.user_created: _hear})
# The core's event, claimed again by a plugin whose name would allow it.
workspace = Plugin(name="workspace", events={"workspace.created": "again"})
counts_a = Plugin(name="counts_a", metrics=[Metric("qrp_things_total", "Things")])
counts_b = Plugin(name="counts_b", metrics=[Metric("qrp_things_total", "Things again")])

# A plugin that promises something on the public pages and adds a checklist step only it can
# witness (tests/home).
herald = Plugin(name="herald",
                highlights=[Highlight("Greetings on paper", "Cards that say hello.",
                                      icon="mail", order=5)],
                onboarding=[OnboardingStep("herald.wave", "Wave hello", "Someone waved.",
                                           order=1)])
stray_step = Plugin(name="stray_step", onboarding=[OnboardingStep("qr.first", "Not ours")])


# Contributions to the microsites' block registry (the microsites.blocks extension point).
def _block(name: str):
    from marshmallow import Schema

    from qrp_microsites.blocks import Block

    return Block(name, name.title(), Schema, "hello/block.html")


not_a_block = Plugin(name="not_a_block", contributions={"microsites.blocks": [{"name": "x"}]})
second_heading = Plugin(name="second_heading",
                        contributions={"microsites.blocks": [_block("heading")]})
bad_block_name = Plugin(name="bad_block_name",
                        contributions={"microsites.blocks": [_block("Bad Name")]})
