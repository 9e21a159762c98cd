"""A block type for microsites: a greeting card with a link (the microsites.blocks point)."""

from marshmallow import Schema

from qrp_microsites.blocks import Block
from qrp_microsites.fields import Text, Url


class GreetingFields(Schema):
    text = Text(max=120, required=True)
    url = Url(load_default=None, allow_none=True)


greeting = Block("greeting", "Greeting", GreetingFields, "hello/block_greeting.html",
                 icon="hand", description="A warm hello, with an optional link",
                 defaults={"text": "Hello!"})
