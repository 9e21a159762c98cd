"""The new member's checklist on the home page: the first things worth doing, ticked off as
they happen, until the person has done them all or puts the list away.

The steps are declared like everything else (``Plugin.onboarding``, the core's own below), so a
step appears only while the plugin that can witness it is enabled, and only to roles that may
do it. A step is done when its ``done`` function says so from real data (the workspace has a
QR code, a scan arrived), or when its plugin called ``mark_done(key)`` (a download, which
leaves no row behind). A step seen done once is written down per person
(``UserOnboarding``), so progress never goes backwards: archiving the first code does not
undo "create your first code". Progress is the person's: a step reads the workspace in scope,
but once seen done it stays done in all of the person's workspaces (they know how).

The page (``templates/onboarding/_checklist.html``, on the home page) and the API
(``GET /api/v1/me/onboarding``, ``POST .../dismiss`` and ``.../restore``) read the same
``checklist(user)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import g, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from qrplatform import permissions
from qrplatform.auth.models import ApiToken, UserOnboarding
from qrplatform.errors import ServiceError
from qrplatform.extensions import db
from qrplatform.plugins import OnboardingStep
from qrplatform.registry import registry

JUST_DONE = timedelta(minutes=10)


def _has_api_token(user) -> bool:
    return db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id)
                             .limit(1)) is not None


# The core's own step; plugins add theirs (qr: create, download; analytics: a scan; teams: a
# teammate). The key of a core step starts with its area, as a plugin's would.
CORE_STEPS = [
    OnboardingStep("tokens.first", "Get an API token",
                   "For the mobile app, a script or an integration: everything a page does, "
                   "the API does too.",
                   endpoint="account.tokens", action="Create a token", done=_has_api_token,
                   order=90),
]


@dataclass
class StepState:
    key: str
    title: str
    text: str
    url: str | None
    action: str
    done: bool
    done_at: datetime | None
    panel: str | None
    live: bool
    manual: bool

    @property
    def just_done(self) -> bool:
        """Done in the last few minutes: the page says so (a scan that just arrived)."""
        return self.done_at is not None and _now() - self.done_at < JUST_DONE

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "text": self.text, "url": self.url,
                "done": self.done, "done_at": self.done_at, "manual": self.manual}


@dataclass
class Checklist:
    steps: list[StepState]
    dismissed_at: datetime | None
    # Steps this very reading found done (a scan arrived since the last one).
    newly_done: list[str] = field(default_factory=list)

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def complete(self) -> bool:
        return self.done_count == self.total

    @property
    def dismissed(self) -> bool:
        return self.dismissed_at is not None

    @property
    def visible(self) -> bool:
        """Shown on the home page: something left to do, and not put away."""
        return bool(self.steps) and not self.complete and not self.dismissed

    @property
    def next_step(self) -> StepState | None:
        return next((step for step in self.steps if not step.done), None)

    @property
    def waiting_live(self) -> bool:
        """The next step is one that happens away from this page (a scan): poll for it."""
        step = self.next_step
        return bool(step and step.live)

    def as_dict(self) -> dict[str, Any]:
        return {"steps": [step.as_dict() for step in self.steps], "done": self.done_count,
                "total": self.total, "complete": self.complete, "dismissed": self.dismissed,
                "dismissed_at": self.dismissed_at, "visible": self.visible}


def _row(user, *, lock: bool = False) -> UserOnboarding | None:
    query = select(UserOnboarding).where(UserOnboarding.user_id == user.id)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


def _row_for_update(user) -> UserOnboarding:
    """The person's row, locked; made first if missing. Two requests making it at once (the
    polling list and a download): the second one's insert fails under its savepoint and it
    takes the first one's row."""
    row = _row(user, lock=True)
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            row = UserOnboarding(user_id=user.id, steps={})
            db.session.add(row)
    except IntegrityError:
        row = _row(user, lock=True)
    return row


def _now() -> datetime:
    return datetime.now(UTC)


def _allowed(step: OnboardingStep) -> bool:
    return step.permission is None or permissions.can(step.permission)


def checklist(user) -> Checklist:
    """The person's checklist in the workspace in scope. Steps newly seen done are written
    down (committed by the caller's request, like any change)."""
    row = _row(user)
    stored = dict(row.steps) if row else {}
    states, seen_now = [], {}
    for step in registry().onboarding:
        if not _allowed(step):
            continue
        done_at = stored.get(step.key)
        if done_at is None and step.done is not None and g.get("workspace") is not None \
                and step.done(user):
            done_at = seen_now[step.key] = _now().isoformat()
        states.append(StepState(
            key=step.key, title=step.title, text=step.text,
            url=url_for(step.endpoint) if step.endpoint else None, action=step.action,
            done=done_at is not None,
            done_at=datetime.fromisoformat(done_at) if done_at else None,
            panel=step.panel, live=step.live, manual=step.done is None))
    if seen_now:
        row = _row_for_update(user)
        row.steps = {**seen_now, **(row.steps or {})}
        db.session.commit()
    return Checklist(states, row.dismissed_at if row else None, list(seen_now))


def mark_done(key: str, user=None) -> None:
    """A step only its plugin can witness happened (a download): write it down once."""
    if key not in {step.key for step in registry().onboarding}:
        raise KeyError(f"unknown onboarding step {key!r}: no enabled plugin declares it")
    user = user or g.get("user")
    if user is None:
        return
    row = _row(user)
    if row is not None and key in (row.steps or {}):
        return
    row = _row_for_update(user)
    if key not in (row.steps or {}):
        row.steps = {**(row.steps or {}), key: _now().isoformat()}
        db.session.commit()


def mark_manual(key: str, user) -> None:
    """The API's way to mark a step only its doer can witness; the others follow real data."""
    step = next((s for s in registry().onboarding if s.key == key and _allowed(s)), None)
    if step is None:
        raise ServiceError(f"No onboarding step {key!r} here.", field="step", status=422,
                           code="validation_error")
    if step.done is not None:
        raise ServiceError(f"“{step.title}” is ticked off by itself when it happens; it cannot "
                           "be marked.", field="step", status=422, code="validation_error")
    mark_done(key, user)


def dismiss(user) -> Checklist:
    row = _row_for_update(user)
    row.dismissed_at = row.dismissed_at or _now()
    db.session.commit()
    return checklist(user)


def restore(user) -> Checklist:
    row = _row_for_update(user)
    row.dismissed_at = None
    db.session.commit()
    return checklist(user)
