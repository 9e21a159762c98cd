"""Plan quotas: plugins declare their keys (Plugin.quotas), services check them here.

    quotas.check("qr.dynamic_codes", used=count, adding=1, noun="dynamic QR codes")

raises ``QuotaExceeded`` (HTTP 402) with a message that names the plan, the limit and what to do.
"""

from __future__ import annotations

from flask import g

from qrplatform.errors import QuotaExceeded
from qrplatform.registry import registry


def current_plan() -> str:
    """The plan of the workspace in scope: the request's, or a job's (tenant_scope)."""
    from qrplatform.auth.models import Workspace
    from qrplatform.extensions import db
    from qrplatform.tenancy import current_workspace_id

    workspace = g.get("workspace")
    if workspace is None and current_workspace_id() is not None:
        workspace = db.session.get(Workspace, current_workspace_id())
    return workspace.plan if workspace is not None else "free"


def limit(key: str, plan: str | None = None) -> int | None:
    """The workspace plan's limit for ``key``; None means unlimited."""
    declared = registry().quotas
    if key not in declared:
        raise KeyError(f"unknown quota {key!r}: no enabled plugin declares it")
    plan = plan or current_plan()
    return declared[key].get(plan, declared[key].get("free"))


def check(key: str, used: int, adding: int = 1, *, noun: str | None = None,
          plan: str | None = None) -> None:
    allowed = limit(key, plan)
    if allowed is None or used + adding <= allowed:
        return
    plan_name = (plan or current_plan()).capitalize()
    what = noun or key
    raise QuotaExceeded(
        f"Your {plan_name} plan allows {allowed} {what}; you have {used}. "
        "Upgrade the plan or remove some first."
    )
