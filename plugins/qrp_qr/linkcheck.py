"""Broken destinations: a scheduled job asks each live dynamic code's destination whether it
still answers, and tells the workspace's owners once about the codes that stopped.

- Each destination gets a HEAD (a GET when the server refuses HEAD: 405/501), through the
  core's SSRF guard (``qrplatform.netguard``: no private, loopback or link-local address, the
  address checked again at connection time, redirects not followed: a 3xx is an answer).
- A 4xx/5xx answer, or none within QR_LINK_CHECK_TIMEOUT seconds, marks the code broken; a
  later good answer clears it. A destination the guard refuses is "skipped", never requested.
- Politeness: one request at a time per host, QR_LINK_CHECK_DELAY seconds apart; a few hosts
  in parallel (QR_LINK_CHECK_HOSTS); QR_LINK_CHECK_BATCH codes per run, the least recently
  checked first.
- One e-mail per workspace and run to its owners and admins lists the codes newly broken
  (``qr_broken_links``); a code is not announced again until it has recovered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import nulls_first, select

from qrp_qr.models import QRCode
from qrplatform import jobs, netguard, notify
from qrplatform.auth import services as auth
from qrplatform.extensions import db
from qrplatform.tenancy import tenant_scope, unscoped
from qrplatform.web import public_url

log = logging.getLogger(__name__)

OK, BROKEN, SKIPPED = "ok", "broken", "skipped"
STATUSES = (OK, BROKEN, SKIPPED)
CHECK_EVERY_SECONDS = 6 * 3600


def probe(url: str, *, timeout: float, policy: netguard.Policy) -> tuple[str, str | None]:
    """(status, problem) of one destination: ok, broken (why) or skipped (why)."""
    try:
        answer = netguard.request("HEAD", url, timeout=timeout, policy=policy,
                                  max_response_bytes=0)
        if answer.status in (405, 501):
            answer = netguard.request("GET", url, timeout=timeout, policy=policy,
                                      max_response_bytes=512)
    except netguard.BlockedDestination as refused:
        return SKIPPED, f"Not checked: {refused.message}"
    except netguard.RequestFailed as failed:
        return BROKEN, f"No answer: {failed}"
    if answer.status >= 400:
        return BROKEN, f"The destination answered HTTP {answer.status} {answer.reason}".strip()
    return OK, None


def _host(url: str) -> str:
    return (urlsplit(url).netloc or url).lower()


def _probe_all(urls: list[str], *, timeout: float, delay: float, hosts: int,
               policy: netguard.Policy) -> dict[str, tuple[str, str | None]]:
    """Each URL's answer: hosts in parallel, one request at a time per host, ``delay``
    seconds apart."""
    by_host: dict[str, list[str]] = defaultdict(list)
    for url in dict.fromkeys(urls):
        by_host[_host(url)].append(url)
    found: dict[str, tuple[str, str | None]] = {}
    lock = threading.Lock()

    def walk(host_urls: list[str]) -> None:
        for n, url in enumerate(host_urls):
            if n:
                time.sleep(delay)
            result = probe(url, timeout=timeout, policy=policy)
            with lock:
                found[url] = result

    with ThreadPoolExecutor(max_workers=max(1, hosts)) as pool:
        list(pool.map(walk, by_host.values()))
    return found


def check_destinations(limit: int | None = None) -> dict[str, int]:
    """The scheduled job's work (across workspaces): check the least recently checked live
    dynamic codes, record each answer, and send the digests."""
    config = current_app.config
    limit = limit or int(config["QR_LINK_CHECK_BATCH"])
    with unscoped():
        rows = db.session.execute(
            select(QRCode.id, QRCode.destination).where(
                QRCode.kind == "dynamic", QRCode.archived_at.is_(None),
                QRCode.paused.is_(False), QRCode.destination.like("http%"))
            .order_by(nulls_first(QRCode.link_checked_at.asc()), QRCode.id).limit(limit)).all()
    jobs.progress(0, len(rows), f"Checking {len(rows)} destinations")
    answers = _probe_all([destination for _id, destination in rows],
                         timeout=float(config["QR_LINK_CHECK_TIMEOUT"]),
                         delay=float(config["QR_LINK_CHECK_DELAY"]),
                         hosts=int(config["QR_LINK_CHECK_HOSTS"]),
                         policy=netguard.Policy.from_config(config))
    moment = datetime.now(UTC)
    counts = {status: 0 for status in STATUSES}
    with unscoped():
        for code_id, destination in rows:
            code = db.session.get(QRCode, code_id)
            if code is None or code.destination != destination:
                continue  # changed meanwhile: the next run checks the new one
            status, problem = answers[destination]
            counts[status] += 1
            if status != BROKEN:
                code.link_notified_at = None  # recovered: a new breakage is news again
            if status == BROKEN and code.link_status != BROKEN:
                code.link_broken_since = moment
            code.link_status, code.link_problem = status, problem
            code.link_checked_at = moment
        db.session.commit()
        counts["digests"] = _send_digests(moment)
    jobs.progress(len(rows), len(rows), f"Checked {len(rows)} destinations")
    return counts


def _send_digests(moment: datetime) -> int:
    """One e-mail per workspace with codes newly broken; returns how many workspaces."""
    news = db.session.scalars(select(QRCode).where(
        QRCode.link_status == BROKEN, QRCode.link_notified_at.is_(None),
        QRCode.archived_at.is_(None)).order_by(QRCode.workspace_id, QRCode.id)).all()
    by_workspace: dict[int, list[QRCode]] = defaultdict(list)
    for code in news:
        by_workspace[code.workspace_id].append(code)
    for workspace_id, codes in by_workspace.items():
        listed = [{"name": code.name, "destination": code.destination,
                   "problem": code.link_problem,
                   "page": public_url("qr.detail", code_id=code.id)} for code in codes]
        # Each workspace's digest and its marks in one transaction of its own, written while
        # in its scope (the e-mails are that workspace's rows).
        with tenant_scope(workspace_id):
            for address in auth.member_emails(workspace_id):
                notify.send_email(
                    address, "qr_broken_links", workspace_id=workspace_id,
                    subject=f"{len(codes)} QR code destination(s) stopped working",
                    codes=listed, page=public_url("qr.index"))
            for code in codes:
                code.link_notified_at = moment
            db.session.commit()
    return len(by_workspace)


def health(code: QRCode) -> dict[str, Any] | None:
    """What the API says about a code's destination check (None: never checked)."""
    if code.link_checked_at is None:
        return None
    return {"status": code.link_status, "problem": code.link_problem,
            "checked_at": code.link_checked_at, "broken_since": code.link_broken_since
            if code.link_status == BROKEN else None}
