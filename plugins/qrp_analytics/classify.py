"""What a scan is, beyond what the redirect decided: workspace rules, device, OS, browser.

The redirect classifies every scan with ``qrplatform.useragents`` (human, bot, link preview,
HEAD, with the reason). A workspace adds its own rules on top, applied at ingest to scans the
redirect took for human: user-agent patterns, countries, and devices marked as test devices
for the day. A rule turns the scan into a bot whose reason names the rule, so it is shown
apart, never dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from urllib.parse import urlsplit

from sqlalchemy import select

from qrp_analytics.models import AnalyticsSettings, MarkedTestDevice
from qrplatform import useragents
from qrplatform.extensions import db
from qrplatform.useragents import BOT, HUMAN

RULE_PREFIX = "workspace rule: "
TEST_DEVICE_REASON = RULE_PREFIX + "test device"
UNKNOWN = useragents.UNKNOWN
DIRECT = "(direct)"
NOT_RECORDED = "(not recorded)"
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 100


@dataclass(frozen=True)
class WorkspaceRules:
    """One workspace's privacy switches and bot rules, as ingest applies them."""

    record_referrer: bool = True
    record_user_agent: bool = True
    record_country: bool = True
    user_agent_patterns: tuple[str, ...] = ()
    bot_countries: frozenset[str] = frozenset()
    # (day, ip hash, user-agent hash) of devices marked as test devices.
    test_devices: frozenset[tuple[date, str, str]] = field(default_factory=frozenset)

    def reclassify(self, classification: str, reason: str | None, *, user_agent: str | None,
                   country: str | None, ip_hash: str | None, day: date
                   ) -> tuple[str, str | None]:
        """The scan's class after the workspace's rules (only humans can change)."""
        if classification != HUMAN:
            return classification, reason
        if self.test_devices and ip_hash and (
                (day, ip_hash, user_agent_hash(user_agent)) in self.test_devices):
            return BOT, TEST_DEVICE_REASON
        if user_agent and self.user_agent_patterns:
            lowered = user_agent.lower()
            for pattern in self.user_agent_patterns:
                if pattern in lowered:
                    return BOT, f"{RULE_PREFIX}user agent contains “{pattern}”"
        if country and country in self.bot_countries:
            return BOT, f"{RULE_PREFIX}country {country}"
        return classification, reason


DEFAULT_RULES = WorkspaceRules()


def user_agent_hash(user_agent: str | None) -> str:
    return hashlib.sha256((user_agent or "").encode()).hexdigest()


def load_rules(workspace_ids: Iterable[int], days: Iterable[date]) -> dict[int, WorkspaceRules]:
    """The rules of these workspaces (one query each for settings and test devices).

    Runs unscoped (ingest handles every workspace's scans); callers pass the ids.
    """
    ids = sorted(set(workspace_ids))
    if not ids:
        return {}
    devices: dict[int, set] = {}
    for row in db.session.execute(
            select(MarkedTestDevice.workspace_id, MarkedTestDevice.day, MarkedTestDevice.ip_hash,
                   MarkedTestDevice.user_agent_hash)
            .where(MarkedTestDevice.workspace_id.in_(ids),
                   MarkedTestDevice.day.in_(sorted(set(days))))):
        devices.setdefault(row.workspace_id, set()).add(
            (row.day, row.ip_hash, row.user_agent_hash))
    rules = {}
    settings = {s.workspace_id: s for s in db.session.scalars(
        select(AnalyticsSettings).where(AnalyticsSettings.workspace_id.in_(ids)))}
    for workspace_id in ids:
        found = settings.get(workspace_id)
        if found is None and workspace_id not in devices:
            rules[workspace_id] = DEFAULT_RULES
            continue
        rules[workspace_id] = WorkspaceRules(
            record_referrer=found.record_referrer if found else True,
            record_user_agent=found.record_user_agent if found else True,
            record_country=found.record_country if found else True,
            user_agent_patterns=tuple(p.lower() for p in (found.bot_user_agent_patterns or [])
                                      if p) if found else (),
            bot_countries=frozenset(found.bot_countries or []) if found else frozenset(),
            test_devices=frozenset(devices.get(workspace_id, ())),
        )
    return rules


# -- device, OS, browser: the core's parse (the redirect's rules read it too) ----------------

Agent = useragents.Agent
parse_agent = useragents.parse_agent


@lru_cache(maxsize=16384)  # every scan asks; referrers repeat
def referrer_domain(referrer: str | None) -> str | None:
    """``https://www.Example.com/path?q`` → ``example.com``; paths and queries are never kept
    (they can carry personal data). ``android-app://com.x/`` → ``com.x``."""
    if not referrer:
        return None
    try:
        parts = urlsplit(referrer.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if not host:
        return None
    if host.startswith("www."):
        host = host[4:]
    return host[:255]


def clean_patterns(patterns: Iterable[str]) -> list[str]:
    cleaned = []
    for pattern in patterns:
        pattern = (pattern or "").strip()
        if pattern and pattern.lower() not in (p.lower() for p in cleaned):
            cleaned.append(pattern[:MAX_PATTERN_LENGTH])
    return cleaned[:MAX_PATTERNS]
