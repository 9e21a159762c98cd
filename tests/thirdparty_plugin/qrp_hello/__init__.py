"""qrp_hello: a small third-party plugin — a page, an API endpoint, a model with its migration,
a nav entry, a card on the home page, an event receiver that greets every new workspace and a
block type for microsites.
It uses only the documented contract (docs/plugins.md)."""

from pathlib import Path

from qrp_hello.api import blp
from qrp_hello.blocks import greeting
from qrp_hello.models import Greeting
from qrp_hello.receivers import greet_new_workspace
from qrp_hello.views import bp
from qrplatform.plugins import NavItem, Permission, Plugin

plugin = Plugin(
    name="hello",
    title="Hello",
    description="Greetings, to show how a plugin plugs in.",
    blueprints=[bp],
    api_blueprints=[blp],
    models=[Greeting],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    nav=[NavItem("Hello", "hello.index", order=900, permission="hello.view", icon="hand")],
    events={"hello.greeted": "a greeting was written (data: greeting_id)"},
    receivers={"workspace.created": greet_new_workspace},
    permissions=[Permission("hello.view", "Read greetings",
                            ("owner", "admin", "editor", "viewer"))],
    slots={"home.cards": "hello/_card.html"},
    # A block type for the microsites builder (unused where microsites is not enabled).
    contributions={"microsites.blocks": [greeting]},
)
