"""The analytics plugin's declaration: what it brings and what the core wires in."""

from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import AppGroup

from qrp_analytics import api, ingest, jobs, models, retention, services, views
from qrplatform import signals
from qrplatform.plugins import (
    Highlight,
    NavItem,
    OnboardingStep,
    Permission,
    Plugin,
    Quota,
    Schedule,
)

ALL_ROLES = ("owner", "admin", "editor", "viewer", "billing")

analytics_cli = AppGroup("analytics", help="Scan analytics: retention purge, anomaly detection.")


@analytics_cli.command("purge")
@click.option("--now", default=None, help="Pretend it is this ISO time (UTC).")
def purge_command(now):
    """Delete scans and rollups older than each workspace's retention."""
    click.echo(jobs.purge_expired(now))


@analytics_cli.command("detect")
@click.option("--now", default=None, help="Pretend it is this ISO time (UTC).")
def detect_command(now):
    """Run the anomaly detector on every workspace and send due alerts (scheduled hourly)."""
    click.echo(jobs.detect_anomalies(now or datetime.now(UTC).isoformat()))


plugin = Plugin(
    name="analytics",
    title="Analytics",
    description="Scan analytics: humans and bots apart, privacy by default, anomalies, "
                "forecasts, alerts and exports.",
    requires=["qr"],
    blueprints=[views.bp],
    api_blueprints=[api.codes_blp, api.blp],
    models=[models.Scan, models.CodeHourly, models.CodeDaily, models.CodeWeekly,
            models.WorkspaceHourly,
            models.CodeBreakdown, models.WorkspaceBreakdown, models.DailyVisitor,
            models.AnalyticsSettings, models.MarkedTestDevice, models.Anomaly,
            models.AlertRule, models.AlertFiring],
    migrations=str(Path(__file__).parent / "migrations" / "versions"),
    nav=[NavItem("Analytics", "analytics.index", order=20, permission="analytics.view",
                 icon="chart-line")],
    highlights=[Highlight(
        "Honest analytics, bots shown apart",
        "People are counted apart from bots, link previews and HEAD requests, and visitors "
        "without keeping anything that identifies them.", icon="chart-line", order=20)],
    batch_receivers={ingest.EVENT_TYPE: ingest.ingest_batch,
                     ingest.CLICK_EVENT: ingest.ingest_clicks},
    jobs=[jobs.export_scans, jobs.export_aggregates, jobs.purge_expired, jobs.detect_anomalies],
    # The detector looks at the last hour; retention is counted in days.
    schedules=[Schedule(jobs.detect_anomalies, every_seconds=3600),
               Schedule(jobs.purge_expired, every_seconds=86400)],
    commands=[analytics_cli],
    permissions=[
        Permission("analytics.view", "See scan analytics", ALL_ROLES),
        Permission("analytics.manage", "Change analytics privacy settings, bot rules and "
                   "alert rules", ("owner", "admin")),
        Permission("analytics.export", "Export scans and counts as CSV",
                   ("owner", "admin", "editor")),
    ],
    quotas={
        # Days of scans kept, by plan; a workspace may choose fewer.
        retention.RETENTION_QUOTA: Quota(retention.RETENTION_DAYS_BY_PLAN,
                                         "days of scan history", unit="days"),
        # Soft: counted and warned about, never refused; a printed code keeps redirecting.
        services.SCANS_QUOTA: Quota(
            {"free": 10_000, "pro": 250_000, "business": 2_000_000, "enterprise": None},
            "scans", usage=services.scans_this_period, soft=True, period="month"),
    },
    slots={"qr.code_actions": "analytics/_code_action.html",
           "home.cards": "analytics/_home_cards.html"},
    # Scan counts for other plugins' lists (the QR list's 7-day column and its sort).
    signal_receivers={signals.code_scan_counts: services.daily_human_scans},
    onboarding=[OnboardingStep(
        "analytics.first_scan", "Scan it with your phone",
        "Point your phone's camera at a dynamic code: the scan shows up here the moment it "
        "arrives.", permission="analytics.view", done=services.has_human_scan, order=30,
        panel="analytics/_onboarding_scan.html", live=True)],
)
