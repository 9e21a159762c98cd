from datetime import UTC, datetime

import pytest
from flask import g

from qrplatform import quotas
from qrplatform.errors import QuotaExceeded
from qrplatform.plugins import Plugin, PluginError, Quota
from qrplatform.registry import Registry, registry
from qrplatform.testing.pytest_plugin import builtin_plugins
from qrplatform.ui import file_size

things_used = {"count": 0}


@pytest.fixture
def quota_app(make_app, db):
    # Without the billing plugin: no plugin sells plans, so no upgrade link.
    app = make_app(QRP_PLUGINS=[name for name in builtin_plugins() if name != "billing"])
    declared = registry(app).quotas
    declared["demo.things"] = Quota({"free": 2, "pro": 10, "business": None}, "things",
                                    usage=lambda: things_used["count"])
    declared["demo.visits"] = Quota({"free": 5}, "visits a month", soft=True, period="month",
                                    usage=lambda: 7)
    declared["demo.history"] = Quota({"free": 30, "business": 365}, "days of history",
                                     unit="days")
    declared["demo.extras"] = Quota({"free": 0, "pro": 3}, "extras", usage=lambda: 0)
    return app


def test_quota_allows_up_to_the_plan_limit_then_says_what_to_do(quota_app):
    with quota_app.test_request_context():
        g.workspace = type("W", (), {"plan": "free"})()
        things_used["count"] = 1
        quotas.check("demo.things")  # counted by the declared usage(): 1 + 1 <= 2
        things_used["count"] = 2
        with pytest.raises(QuotaExceeded) as refused:
            quotas.check("demo.things")
        assert str(refused.value) == ("Your Free plan allows 2 things; you have 2. "
                                      "Remove some first, or upgrade: the Pro plan allows 10.")
        assert refused.value.status == 402
        assert refused.value.upgrade_url is None
        # Adding many at once names the amount and the plan that has room for all of them.
        with pytest.raises(QuotaExceeded) as refused:
            quotas.check("demo.things", used=1, adding=20)
        assert str(refused.value).endswith("you have 1 and are adding 20. Remove some first, or "
                                           "upgrade: the Business plan allows unlimited.")
        quotas.check("demo.things", used=10_000, plan="business")  # unlimited
        quotas.check("demo.visits", adding=100)  # soft: counted, never refused
        with pytest.raises(KeyError, match="unknown quota"):
            quotas.check("demo.nothing")


def test_a_plan_left_out_takes_the_next_smaller_plans_limit(quota_app):
    with quota_app.app_context():
        assert quotas.limit("demo.history", "pro") == 30
        assert quotas.limit("demo.history", "enterprise") == 365
        assert quotas.limit("demo.things", "enterprise") is None


def test_meters_measure_every_declared_quota_for_the_usage_page(quota_app, create_user):
    from qrplatform.tenancy import tenant_scope

    user = create_user()
    things_used["count"] = 2
    with quota_app.app_context(), tenant_scope(user.personal_workspace_id):
        found = {meter.key: meter for meter in quotas.meters()}
    # The core's own (the API rate limit) and every enabled plugin's are there.
    assert {"api.requests_per_minute", "qr.dynamic_codes", "teams.seats",
            "analytics.scans_per_month", "demo.things"} <= set(found)
    things, visits, history = found["demo.things"], found["demo.visits"], found["demo.history"]
    assert (things.used, things.limit, things.percent, things.state) == (2, 2, 100, "full")
    assert (visits.used, visits.limit, visits.soft, visits.state) == (7, 5, True, "over")
    assert (history.used, history.limit, history.percent, history.state) == (
        None, 30, None, "ok")
    assert found["api.requests_per_minute"].limit == 120
    # Not on this plan and none used: nothing to warn about.
    assert (found["demo.extras"].percent, found["demo.extras"].state) == (0, "ok")
    assert (found["teams.seats"].used, found["teams.seats"].limit) == (1, 3)  # the owner


def test_the_monthly_period_starts_on_the_first_at_midnight_utc():
    assert quotas.period_start(datetime(2026, 3, 17, 13, 5, tzinfo=UTC)) == datetime(
        2026, 3, 1, tzinfo=UTC)


def test_a_job_is_held_to_its_workspace_plan(quota_app, create_user):
    from qrplatform.tenancy import tenant_scope
    from qrplatform.testing.pytest_plugin import set_plan

    user = create_user()
    set_plan(user.personal_workspace_id, "pro")
    with quota_app.app_context(), tenant_scope(user.personal_workspace_id):
        quotas.check("demo.things", used=9)  # pro allows 10, no request needed
        with pytest.raises(QuotaExceeded, match="Your Pro plan allows 10 things"):
            quotas.check("demo.things", used=10)


@pytest.mark.parametrize(("quota", "complaint"), [
    ({"free": 1}, "is a dict, not a qrplatform.plugins.Quota"),
    (Quota({"gold": 1}, "things"), "unknown plans ['gold']"),
    (Quota({"free": 1}, "things", period="week"), "has period 'week'"),
])
def test_a_wrong_quota_declaration_stops_startup_naming_the_plugin(quota, complaint):
    with pytest.raises(PluginError, match=r"plugin 'demo': quota 'demo\.things'") as refused:
        Registry().declare("demo", Plugin(name="demo", quotas={"demo.things": quota}))
    assert complaint in str(refused.value)


def test_a_feature_a_plan_has_or_not_reads_yes_or_no():
    assert [quotas.format_amount(n, "switch") for n in (0, 1, None)] == ["no", "yes", "yes"]
    assert quotas.format_amount(None, "count") == "unlimited"


def test_sizes_read_in_si_units_without_a_needless_decimal():
    sizes = [0, 999, 1000, 12_345, 32_000_000, 33_554_432, 5_000_000_000, 10**16]
    assert [file_size(n) for n in sizes] == [
        "0 bytes", "999 bytes", "1 kB", "12.3 kB", "32 MB", "33.6 MB", "5 GB", "10,000 TB"]
    assert quotas.format_amount(100_000_000, "bytes") == "100 MB"
    assert quotas.format_amount(None, "bytes") == "unlimited"
