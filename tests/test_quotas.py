import pytest
from flask import g

from qrplatform import quotas
from qrplatform.errors import QuotaExceeded
from qrplatform.registry import registry


@pytest.fixture
def quota_app(make_app, db):
    app = make_app()
    registry(app).quotas["demo.things"] = {"free": 2, "pro": 10, "business": None}
    return app


def test_quota_allows_up_to_the_plan_limit_then_says_what_to_do(quota_app):
    with quota_app.test_request_context():
        g.workspace = type("W", (), {"plan": "free"})()
        quotas.check("demo.things", used=1)
        with pytest.raises(QuotaExceeded) as refused:
            quotas.check("demo.things", used=2, noun="things")
        assert str(refused.value) == ("Your Free plan allows 2 things; you have 2. "
                                      "Upgrade the plan or remove some first.")
        assert refused.value.status == 402
        quotas.check("demo.things", used=10_000, plan="business")  # unlimited
        with pytest.raises(KeyError, match="unknown quota"):
            quotas.check("demo.nothing", used=0)


def test_a_job_is_held_to_its_workspace_plan(quota_app, create_user):
    from qrplatform.tenancy import tenant_scope
    from qrplatform.testing.pytest_plugin import set_plan

    user = create_user()
    set_plan(user.personal_workspace_id, "pro")
    with quota_app.app_context(), tenant_scope(user.personal_workspace_id):
        quotas.check("demo.things", used=9)  # pro allows 10, no request needed
        with pytest.raises(QuotaExceeded, match="Your Pro plan allows 10 things"):
            quotas.check("demo.things", used=10, noun="things")
