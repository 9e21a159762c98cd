"""The domains plugin's jobs (taking plain values, never ORM objects)."""

from __future__ import annotations

from qrp_domains import services


def check_domains() -> dict:
    """Scheduled: look again at every domain whose next check is due (backoff for pending
    and misconfigured ones, daily for verified ones)."""
    return {"checked": services.check_due()}


def move_codes(name: str) -> dict:
    """Move every code of the workspace on the domain ``name`` to the platform's short
    links, with progress."""
    return services.move_codes(name)
