"""How long scans are kept, written once: the plan's quota, capped by the longest any plan
allows, shortened by the workspace's own choice. The settings page, the API and the daily
purge all ask here."""

from __future__ import annotations

from qrplatform import quotas

RETENTION_QUOTA = "analytics.retention_days"
# Days of scans kept, by plan (declared as the plugin's quota); a workspace may choose fewer.
RETENTION_DAYS_BY_PLAN: dict[str, int | None] = {"free": 90, "pro": 400, "business": 1095}
# No plan keeps more; monthly partitions wholly older than this are dropped.
LONGEST_RETENTION_DAYS = max(days for days in RETENTION_DAYS_BY_PLAN.values() if days)


def plan_retention_days(plan: str | None = None) -> int:
    """The most days the plan (default: the workspace in scope's) keeps scans."""
    allowed = quotas.limit(RETENTION_QUOTA, plan) or LONGEST_RETENTION_DAYS
    return min(allowed, LONGEST_RETENTION_DAYS)


def retention_days(chosen: int | None, plan: str | None = None) -> int:
    """Days kept: the workspace's choice, within its plan's allowance."""
    allowed = plan_retention_days(plan)
    return min(chosen or allowed, allowed)
