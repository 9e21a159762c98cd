"""The billing tests' parts: an app whose real ``stripe`` client talks to localstripe (through
the test front for Checkout and Portal sessions), a workspace with an owner, a billing member
and an editor, and API clients for them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from qrplatform.auth import services as accounts
from qrplatform.auth.models import Membership, Workspace
from qrplatform.events.models import OutboxEvent
from qrplatform.extensions import db as database
from qrplatform.testing.pytest_plugin import ApiClient


@pytest.fixture
def billing_app(make_app, stripe_config):
    return make_app(**stripe_config)


def run_cli(app, *args: str):
    """``flask <args>`` on ``app`` (in its own app context: the db fixture holds another)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def plans_in_stripe(billing_app):
    """The catalogue's products and prices made in Stripe, as an operator would."""
    result = run_cli(billing_app, "billing", "sync-plans")
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class Shop:
    app: object
    workspace_id: int
    owner: ApiClient
    billing: ApiClient
    editor: ApiClient

    def client_for(self, user) -> ApiClient:
        _token, plain = accounts.create_token(user, self.workspace_id, "tests")
        return ApiClient(self.app.test_client(), plain, user.id, self.workspace_id)

    def plan(self) -> str:
        database.session.expire_all()
        return database.session.get(Workspace, self.workspace_id).plan

    def events(self, event_type: str) -> list[dict]:
        return [json.loads(row.payload)["data"] for row in database.session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == event_type)
            .order_by(OutboxEvent.created_at))]

    def count(self, model, *criteria) -> int:
        from qrplatform.tenancy import unscoped

        with unscoped():
            return database.session.scalar(
                select(func.count()).select_from(model).where(*criteria))


@pytest.fixture
def shop(billing_app, db, create_user) -> Shop:
    owner = create_user(email="olga@example.com", name="Olga Owner")
    workspace_id = owner.personal_workspace_id
    shop = Shop(billing_app, workspace_id, None, None, None)
    members = {}
    for role, email, name in (("billing", "bill@example.com", "Bill Billing"),
                              ("editor", "eddie@example.com", "Eddie Editor")):
        user = create_user(email=email, name=name)
        database.session.add(Membership(user_id=user.id, workspace_id=workspace_id, role=role))
        database.session.commit()
        members[role] = user
    shop.owner = shop.client_for(owner)
    shop.billing = shop.client_for(members["billing"])
    shop.editor = shop.client_for(members["editor"])
    return shop


def make_codes(client: ApiClient, count: int, kind: str = "dynamic") -> list[dict]:
    codes = []
    for n in range(count):
        response = client.post("/api/v1/qr-codes", json={
            "name": f"Code {n + 1}", "kind": kind, "type": "url",
            "destination": f"https://example.com/{n + 1}"})
        assert response.status_code == 201, response.json
        codes.append(response.json)
    return codes
