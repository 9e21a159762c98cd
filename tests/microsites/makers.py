"""Makers of the microsites API's resources, in the shape of tests/test_cross_tenant.MAKERS:
``maker(owner)`` returns the id of a resource that the owner's workspace holds."""

import uuid

from qrplatform.testing.pytest_plugin import set_plan

PAGE = [
    {"type": "profile", "name": "Café Lumière", "bio": "Coffee & cake since 1990"},
    {"type": "heading", "text": "Welcome"},
    {"type": "text", "html": "<p>Fresh <strong>every</strong> morning.</p>"},
    {"type": "link", "label": "Order online", "url": "https://example.com/order",
     "icon": "shopping-cart"},
    {"type": "contact", "first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0000",
     "email": "ada@example.com"},
    {"type": "lead_form", "fields": [{"name": "name", "required": True},
                                     {"name": "email", "required": True}, {"name": "message"}]},
]


def make_microsite(owner) -> str:
    """A draft page of the owner's workspace (on the Business plan: the walks make many)."""
    set_plan(owner.workspace_id, "business")
    response = owner.post("/api/v1/microsites", json={
        "name": f"owner's page {uuid.uuid4().hex[:6]}", "blocks": PAGE})
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def make_published_microsite(owner) -> dict:
    microsite_id = make_microsite(owner)
    response = owner.post(f"/api/v1/microsites/{microsite_id}/publish")
    assert response.status_code == 200, response.json
    return response.json


def make_theme_preset(owner) -> str:
    response = owner.post("/api/v1/microsites/theme-presets", json={
        "name": f"owner's look {uuid.uuid4().hex[:6]}", "theme": {"name": "forest"}})
    assert response.status_code == 201, response.json
    return str(response.json["id"])


MICROSITES_MAKERS = {"/api/v1/microsites/{microsite_id}": make_microsite,
                     "/api/v1/microsites/theme-presets/{preset_id}": make_theme_preset}
