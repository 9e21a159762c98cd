"""The QR code pages (HTMX)."""

from flask import Blueprint

bp = Blueprint("qr", __name__, url_prefix="/qr", template_folder="templates",
               static_folder="static", static_url_path="/static/qr")


@bp.get("/")
def index():
    return "todo"
