"""The assets plugin's background jobs (RQ; ids and keys only)."""

from __future__ import annotations

from qrp_assets import services
from qrplatform.jobs import progress


def make_thumbnails(asset_id: int, key: str) -> dict:
    """WebP thumbnails of one asset's file, each recorded as soon as it exists."""
    made = services.make_thumbnails(asset_id, key, progress)
    return {"asset_id": asset_id, "thumbnails": sorted(int(size) for size in made)}


def purge_expired_uploads() -> dict:
    """Presigned uploads that were never confirmed, across workspaces."""
    return {"purged": services.purge_expired_uploads()}
