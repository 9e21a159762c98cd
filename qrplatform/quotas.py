"""Plan quotas: plugins declare them (``Plugin.quotas``: a ``Quota`` with its limits by plan,
noun and usage counter); services check them here, and the usage page reads them here::

    quotas.check("qr.dynamic_codes", adding=1)          # counts with the declared usage()
    quotas.check("teams.seats", used=seats_used(excluding_invitation=7))

``check`` raises ``QuotaExceeded`` (HTTP 402) with a message that names the plan, the limit, what
to do and, when an enabled plugin sells plans (``signals.quota_exceeded``), where to upgrade.
A soft quota never refuses: it is counted and warned about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import g

from qrplatform import signals
from qrplatform.errors import QuotaExceeded
from qrplatform.plans import DEFAULT_PLAN, PLANS
from qrplatform.plugins import Quota
from qrplatform.registry import registry
from qrplatform.ui import file_size

__all__ = ["PLANS", "Meter", "amount_of", "check", "check_within", "current_plan", "declared",
           "format_amount", "limit", "meters", "period_start", "remaining", "upgrade_url",
           "usage"]


def current_plan() -> str:
    """The plan of the workspace in scope: the request's, or a job's (tenant_scope)."""
    from qrplatform.auth.models import Workspace
    from qrplatform.extensions import db
    from qrplatform.tenancy import current_workspace_id

    workspace = g.get("workspace")
    if workspace is None and current_workspace_id() is not None:
        workspace = db.session.get(Workspace, current_workspace_id())
    return workspace.plan if workspace is not None else DEFAULT_PLAN


def declared(key: str) -> Quota:
    found = registry().quotas.get(key)
    if found is None:
        raise KeyError(f"unknown quota {key!r}: no enabled plugin declares it")
    return found


def limit(key: str, plan: str | None = None) -> int | None:
    """The plan's limit for ``key`` (default: the workspace in scope's plan); None means
    unlimited. A plan the declaration leaves out gets the next smaller named plan's limit."""
    return _limit(declared(key), plan or current_plan())


def _limit(quota: Quota, plan: str) -> int | None:
    position = PLANS.index(plan) if plan in PLANS else 0
    for smaller in reversed(PLANS[:position + 1]):
        if smaller in quota.limits:
            return quota.limits[smaller]
    # Nothing named at or below this plan: the smallest named plan's limit.
    return next(quota.limits[p] for p in PLANS if p in quota.limits)


def period_start(now: datetime | None = None) -> datetime:
    """Where a monthly quota's count starts: the first of this month, 00:00 UTC."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usage(key: str) -> int | None:
    """What the workspace in scope uses of ``key`` now (None: the quota counts nothing)."""
    counter = declared(key).usage
    return None if counter is None else int(counter())


def check(key: str, adding: int = 1, *, used: int | None = None,
          plan: str | None = None) -> None:
    """Refuse (402) when ``adding`` more would go over the plan's limit. ``used`` defaults to
    the declared usage counter. A soft quota never refuses."""
    quota = declared(key)
    plan = plan or current_plan()
    allowed = _limit(quota, plan)
    if allowed is None or quota.soft or adding <= 0:
        return
    if used is None:
        used = usage(key)
    if used + adding <= allowed:
        return
    _refuse(key, quota, plan, allowed, used, adding)


def _refuse(key: str, quota: Quota, plan: str, allowed: int, used: int, adding: int) -> None:
    if quota.unit == "switch":
        _raise_with_way_out(key, quota, plan, f"Your {plan.capitalize()} plan does not include "
                            f"{quota.noun}.", needed=1)
    adding_note = f" and are adding {format_amount(adding, quota.unit)}" if adding > 1 else ""
    situation = (f"Your {plan.capitalize()} plan allows {amount_of(allowed, quota)}; "
                 f"you have {format_amount(used, quota.unit)}{adding_note}.")
    _raise_with_way_out(key, quota, plan, situation, needed=used + adding)


def check_within(key: str, position: int, *, thing: str, plan: str | None = None) -> None:
    """After a downgrade a workspace may hold more than its plan allows: everything keeps
    working, the first ``limit`` (oldest first) stay editable, and changing the ``position``-th
    one beyond them is refused (402) until some are removed or the plan grows."""
    quota = declared(key)
    plan = plan or current_plan()
    allowed = _limit(quota, plan)
    if allowed is None or quota.soft or position <= allowed:
        return
    used = usage(key) or position
    situation = (f"Your {plan.capitalize()} plan allows {amount_of(allowed, quota)} "
                 f"and this workspace has {format_amount(used, quota.unit)}: "
                 f"{thing} keeps working, but changing it waits.")
    _raise_with_way_out(key, quota, plan, situation, needed=used)


def _raise_with_way_out(key: str, quota: Quota, plan: str, situation: str, needed: int) -> None:
    """QuotaExceeded: the situation, then what to do (the smallest plan with room)."""
    larger = PLANS[PLANS.index(plan) + 1:] if plan in PLANS else PLANS
    bigger = next((p for p in larger
                   if (room := _limit(quota, p)) is None or room >= needed), None)
    message = situation + " "
    if bigger is not None and quota.unit == "switch":
        message += f"Upgrade: the {bigger.capitalize()} plan includes them."
    elif bigger is not None:
        room = format_amount(_limit(quota, bigger), quota.unit)
        message += f"Remove some first, or upgrade: the {bigger.capitalize()} plan allows {room}."
    else:
        message += "Remove some first."
    upgrade_url = _upgrade_url(key, plan) if bigger is not None else None
    raise QuotaExceeded(message.rstrip(), upgrade_url=upgrade_url)


def format_amount(number: int | None, unit: str = "count") -> str:
    """A quota's number as people read it: "unlimited", "1,000", "12.5 MB"; a switch (a
    feature a plan has, 1, or not, 0) "yes" or "no"."""
    if unit == "switch":
        return "no" if number == 0 else "yes"
    if number is None:
        return "unlimited"
    return file_size(number) if unit == "bytes" else f"{number:,}"


def amount_of(number: int | None, quota: Quota | Meter) -> str:
    """An amount with what it counts: "25 dynamic QR codes", "100 MB of storage in the media
    library" (a size is "of" what it measures)."""
    joiner = " of " if quota.unit == "bytes" else " "
    return f"{format_amount(number, quota.unit)}{joiner}{quota.noun}"


def remaining(key: str, plan: str | None = None) -> int | None:
    """How many more the workspace in scope may add now (None: unlimited, or a soft quota),
    for pages that say so before anyone does the work."""
    quota = declared(key)
    allowed = _limit(quota, plan or current_plan())
    if allowed is None or quota.soft or quota.usage is None:
        return None
    return max(0, allowed - usage(key))


def upgrade_url(key: str, plan: str | None = None) -> str | None:
    """Where this workspace can change its plan (None when no enabled plugin sells plans)."""
    return _upgrade_url(key, plan or current_plan())


def _upgrade_url(key: str, plan: str) -> str | None:
    """Where this workspace can change its plan: a plugin selling plans answers the signal."""
    for _receiver, url in signals.quota_exceeded.send(key, plan=plan):
        if url:
            return url
    return None


@dataclass(frozen=True)
class Meter:
    """One quota of one workspace, for the usage page and API."""

    key: str
    noun: str
    used: int | None
    limit: int | None
    soft: bool
    period: str | None
    unit: str

    @property
    def percent(self) -> int | None:
        """Share of the limit used, rounded down (None: unlimited or not counted)."""
        if self.used is None or self.limit is None:
            return None
        if self.limit == 0:  # not on this plan: full only once something is used
            return 100 if self.used else 0
        return int(self.used * 100 // self.limit)

    @property
    def state(self) -> str:
        """``ok``, ``near`` (80 % or more), ``full`` (at the limit) or ``over``."""
        percent = self.percent
        if percent is None or percent < 80:
            return "ok"
        if self.used > self.limit:
            return "over"
        return "full" if percent >= 100 else "near"

    def display(self, number: int | None) -> str:
        return format_amount(number, self.unit)

    def amount(self, number: int | None) -> str:
        return amount_of(number, self)


def meters(plan: str | None = None, *, enforced_only: bool = False) -> list[Meter]:
    """Every declared quota measured for the workspace in scope, in declaration order
    (``enforced_only``: just the counted ones that refuse, e.g. for a banner on every page)."""
    plan = plan or current_plan()
    return [Meter(key, quota.noun, usage(key), _limit(quota, plan), quota.soft, quota.period,
                  quota.unit)
            for key, quota in registry().quotas.items()
            if not enforced_only or (quota.usage is not None and not quota.soft)]
