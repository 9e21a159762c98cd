from marshmallow import Schema, fields

from qrp_hello import services
from qrplatform import permissions
from qrplatform.api import api_blueprint

blp = api_blueprint("hello_api", __name__, "/api/v1/hello", "Greetings (example plugin)")


class GreetingSchema(Schema):
    id = fields.Integer()
    text = fields.String()
    created_at = fields.DateTime()


@blp.get("/greetings")
@blp.response(200, GreetingSchema(many=True))
def list_greetings():
    """The greetings of this workspace."""
    permissions.require("hello.view")
    return services.greetings()
