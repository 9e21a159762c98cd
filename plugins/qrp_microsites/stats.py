"""Views and clicks of published pages: the stream's ``microsites.viewed`` and
``microsites.clicked`` events stored (once per event id, by the batch receiver) and counted:
views, unique visitors, clicks per block and the click-through rate, people apart from bots,
link previews and HEAD requests (``qrplatform.useragents``' classification, as for scans)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from qrp_microsites.models import Hit, Microsite
from qrplatform.auth.services import time_zone, workspace_time_zone, workspace_time_zones
from qrplatform.events import Event
from qrplatform.extensions import db, dialect_insert

KINDS = {"microsites.viewed": "view", "microsites.clicked": "click"}


def ingest(events: list[Event]) -> int:
    """Batch receiver: store the events not stored before; returns how many were new."""
    rows = []
    # Days are the workspace's, as for scans (a day already stored keeps its zone).
    zones = {w: time_zone(name) for w, name in workspace_time_zones(
        {e.workspace_id for e in events if e.workspace_id}).items()}
    for event in events:
        data = event.data or {}
        if event.type not in KINDS or not data.get("microsite_id") or not event.workspace_id:
            continue
        moment = datetime.fromisoformat(event.occurred_at).astimezone(zones[event.workspace_id])
        rows.append({"event_id": event.id, "microsite_id": int(data["microsite_id"]),
                     "workspace_id": event.workspace_id, "day": moment.date(),
                     "kind": KINDS[event.type],
                     "classification": str(data.get("classification") or "human")[:10],
                     "block_id": (data.get("block_id") or None) and str(data["block_id"])[:24],
                     "visitor_hash": str(data.get("visitor_hash") or "")[:64]})
    if not rows:
        return 0
    known = set(db.session.scalars(select(Microsite.id).where(
        Microsite.id.in_({r["microsite_id"] for r in rows}))))
    rows = [r for r in rows if r["microsite_id"] in known]  # deleted since: dropped
    if not rows:
        return 0
    try:
        result = db.session.execute(
            dialect_insert(Hit.__table__).on_conflict_do_nothing()
            .returning(Hit.__table__.c.event_id), rows)
        stored = len(result.all())
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return stored


def summary(microsite_id: int, days: int = 30, today: date | None = None) -> dict[str, Any]:
    """The page's figures over the last ``days`` days of the workspace's time zone (today
    included), in scope."""
    zone = workspace_time_zone(db.session.get(Microsite, microsite_id).workspace_id)
    today = today or datetime.now(time_zone(zone)).date()
    since = today - timedelta(days=days - 1)
    base = select(Hit).where(Hit.microsite_id == microsite_id, Hit.day >= since).subquery()
    counts: dict[tuple[str, str], int] = {}
    for kind, classification, count in db.session.execute(
            select(base.c.kind, base.c.classification, func.count())
            .group_by(base.c.kind, base.c.classification)):
        counts[kind, classification] = count
    human = "human"
    uniques = db.session.scalar(select(func.count()).select_from(
        select(base.c.day, base.c.visitor_hash).where(
            base.c.kind == "view", base.c.classification == human).distinct().subquery())) or 0
    by_block = {block: count for block, count in db.session.execute(
        select(base.c.block_id, func.count()).where(base.c.kind == "click",
                                                   base.c.classification == human)
        .group_by(base.c.block_id))}
    daily = {day.isoformat(): count for day, count in db.session.execute(
        select(base.c.day, func.count()).where(base.c.kind == "view",
                                              base.c.classification == human)
        .group_by(base.c.day))}
    views = counts.get(("view", human), 0)
    clicks = counts.get(("click", human), 0)
    return {
        "days": days, "since": since, "time_zone": zone,
        "views": views, "unique_visitors": uniques, "clicks": clicks,
        "click_through_rate": round(clicks / views, 4) if views else None,
        "clicks_by_block": by_block,
        "views_by_day": [{"day": (since + timedelta(days=i)).isoformat(),
                          "views": daily.get((since + timedelta(days=i)).isoformat(), 0)}
                         for i in range(days)],
        "not_people": {c: counts.get(("view", c), 0) + counts.get(("click", c), 0)
                       for c in ("bot", "preview", "head")},
    }
