from flask import Blueprint
from flask_login import login_required

from qrp_hello import services
from qrplatform import permissions
from qrplatform.web import render

bp = Blueprint("hello", __name__, template_folder="templates")


@bp.get("/hello")
@login_required
def index():
    permissions.require("hello.view")
    return render("hello/index.html", greetings=services.greetings())
