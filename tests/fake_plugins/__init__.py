"""Plugins that are wrong on purpose, for the loader's refusals (tests/test_plugins.py)."""

from flask import Blueprint

from qrplatform.plugins import Plugin

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
